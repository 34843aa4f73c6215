using OffloadEmu.Chimney;
using OffloadEmu.Target;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>The daemon's offload target as its host sees it: every request goes straight to the target; only
/// <see cref="Bind"/> differs, binding the host into the sink's <see cref="TargetFrameSink.HostSlot"/> (the target itself
/// is bound to the slot from the start, so frames that go up before a host binds are counted, not lost silently).</summary>
internal sealed class SlotBoundTarget(OffloadTarget target, TargetFrameSink.HostSlot slot) : DelegatingOffloadTarget(target)
{
    public override void Bind(IOffloadHost host) => slot.Bind(host);
}
