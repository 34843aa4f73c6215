using OffloadEmu.Wire;

namespace OffloadEmu.Link.Tests;

/// <summary>
/// A queue-backed fake link for the decorator tests only (stands in for MemoryLink until the lead
/// switches these tests to it). Frames put in <see cref="Inbound"/> are handed out by Receive; frames
/// given to Send are copied into <see cref="Sent"/>. Receive never blocks.
/// </summary>
internal sealed class TestDevice : ILinkDevice
{
    public Queue<byte[]> Inbound { get; } = new();
    public List<byte[]> Sent { get; } = new();
    public long InboundTimestampNs { get; set; } = 1_700_000_000_000_000_001;
    public bool Disposed { get; private set; }

    /// <summary>False to count sent frames without copying them (for the allocation test).</summary>
    public bool RecordSent { get; init; } = true;

    public string Name { get; init; } = "test0";
    public MacAddress MacAddress => MacAddress.Parse("02:00:00:00:00:01");
    public int Mtu => 1500;
    public ChecksumCapabilities Checksums => ChecksumCapabilities.None;
    public LinkStatistics Statistics { get; } = new();

    public int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds)
    {
        int n = 0;
        lock (Inbound)
        {
            while (n < frames.Length && Inbound.TryDequeue(out var bytes))
            {
                bytes.CopyTo(frames[n].Array, 0);
                frames[n].Length = bytes.Length;
                frames[n].TimestampNs = InboundTimestampNs;
                Statistics.CountIn(bytes.Length);
                n++;
            }
        }
        return n;
    }

    public int Send(ReadOnlySpan<FrameBuffer> frames)
    {
        lock (Sent)
        {
            foreach (var f in frames)
            {
                if (RecordSent) Sent.Add(f.Span.ToArray());
                Statistics.CountOut(f.Length);
            }
        }
        return frames.Length;
    }

    public void Dispose() => Disposed = true;
}
