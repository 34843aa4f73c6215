using OffloadEmu.Tcp;

namespace OffloadEmu.Tcp.Tests;

/// <summary>The test's clock: moves only when told to.</summary>
internal sealed class ManualClock
{
    public Instant Now { get; private set; } = Instant.FromSeconds(1000);

    public void Advance(TimeSpan by) => Now += by;

    public void AdvanceMs(long ms) => Now = Now.AddMicroseconds(ms * 1000);

    public void Set(Instant at) => Now = at;
}
