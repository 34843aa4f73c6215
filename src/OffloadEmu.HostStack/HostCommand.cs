using OffloadEmu.Chimney.State;

namespace OffloadEmu.HostStack;

/// <summary>One inbox item (a struct: posting allocates nothing once the queue's segments exist).</summary>
internal struct HostCommand
{
    public CommandKind Kind;
    public object? Object;
    public object? Extra;
    public byte[]? Buffer;
    public int Length;
    public ulong Value;
    public uint Info;
    public IpAddressValue Address;
}
