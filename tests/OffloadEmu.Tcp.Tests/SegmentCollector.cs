using OffloadEmu.Tcp;

namespace OffloadEmu.Tcp.Tests;

/// <summary>An <see cref="ITcpSegmentWriter"/> that keeps a copy of every segment written (tests only).</summary>
internal sealed class SegmentCollector : ITcpSegmentWriter
{
    private readonly byte[] _scratch = new byte[70_000];

    public List<byte[]> Segments { get; } = new();

    /// <summary>When set, GetBuffer refuses (to test back-pressure).</summary>
    public bool Refuse { get; set; }

    public Span<byte> GetBuffer(int length) => Refuse ? Span<byte>.Empty : _scratch.AsSpan(0, length);

    public void Commit(int length) => Segments.Add(_scratch.AsSpan(0, length).ToArray());
}
