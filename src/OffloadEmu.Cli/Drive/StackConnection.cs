using OffloadEmu.HostStack;

namespace OffloadEmu.Cli.Drive;

/// <summary>A connection of the drive's host stack (connect/accept): read continuously into a buffer the caller
/// drains with <c>read</c>; sends and the graceful close are chained so they keep request order.</summary>
internal sealed class StackConnection(int conn, OffloadSocket socket)
{
    private readonly Lock _gate = new();
    private readonly MemoryStream _delivered = new();

    public int Conn { get; } = conn;

    public OffloadSocket Socket { get; } = socket;

    /// <summary>The last location reported by a <c>state</c> event.</summary>
    public ConnectionLocation? ReportedLocation { get; set; }

    /// <summary>The tail of the chain of this connection's sends and shutdown.</summary>
    public Task Tail { get; set; } = Task.CompletedTask;

    public long DeliveredTotal { get; private set; }

    public void Deliver(ReadOnlySpan<byte> data)
    {
        lock (_gate)
        {
            _delivered.Write(data);
            DeliveredTotal += data.Length;
        }
    }

    public byte[] Take(int max)
    {
        lock (_gate)
        {
            var all = _delivered.GetBuffer().AsSpan(0, (int)_delivered.Length);
            int n = Math.Min(max, all.Length);
            var taken = all[..n].ToArray();
            var rest = all[n..].ToArray();
            _delivered.SetLength(0);
            _delivered.Write(rest);
            return taken;
        }
    }
}
