using OffloadEmu.Link.Capture;

namespace OffloadEmu.Link.Tests;

public class PcapNgWriterTests
{
    private const long T0 = 1_763_000_000_123_456_789;

    internal static byte[] WriteSample(out List<(int iface, long ts, byte[] frame, CaptureDirection dir)> written)
    {
        written = new();
        var ms = new MemoryStream();
        using (var w = new PcapNgWriter(ms, leaveOpen: true, bufferSize: 1024))
        {
            int a = w.AddInterface("oe0");
            int b = w.AddInterface("oe-peer1");
            for (int i = 0; i < 20; i++)
            {
                var frame = i % 3 == 0 ? TestFrames.Udp(i, 40 + i) : TestFrames.IcmpEcho(i, 10 + i * 7, reply: i % 2 == 1);
                var dir = (CaptureDirection)(i % 3);
                int iface = i % 4 == 3 ? b : a;
                long ts = T0 + i * 1_000_003L;
                w.WriteFrame(iface, ts, frame, dir);
                written.Add((iface, ts, frame, dir));
            }
            // One frame larger than the write buffer goes around it.
            var big = TestFrames.IcmpEcho(99, 1400);
            w.WriteFrame(a, T0 + 99, big, CaptureDirection.Outbound);
            written.Add((a, T0 + 99, big, CaptureDirection.Outbound));
        }
        return ms.ToArray();
    }

    [Fact]
    public void RoundTripsThroughCaptureReader()
    {
        var bytes = WriteSample(out var written);
        Assert.Equal(0, bytes.Length % 4);
        var reader = new CaptureReader(bytes);
        Assert.Equal(CaptureFormat.PcapNg, reader.Format);
        var frames = reader.ReadAll().ToList();
        Assert.Equal(written.Count, frames.Count);
        for (int i = 0; i < frames.Count; i++)
        {
            Assert.Equal(written[i].ts, frames[i].TimestampNs);
            Assert.Equal(written[i].iface, frames[i].InterfaceIndex);
            Assert.Equal(written[i].iface == 0 ? "oe0" : "oe-peer1", frames[i].InterfaceName);
            Assert.Equal(written[i].dir, frames[i].Direction);
            Assert.Equal(written[i].frame.Length, frames[i].OriginalLength);
            Assert.Equal(written[i].frame, frames[i].Data.ToArray());
        }
        Assert.Equal(2, reader.Interfaces.Count);
        Assert.All(reader.Interfaces, i => Assert.Equal(1, i.LinkType));
    }

    [Fact]
    public void SnapLengthCutsFramesButKeepsOriginalLength()
    {
        var ms = new MemoryStream();
        var frame = TestFrames.IcmpEcho(1, 200);
        using (var w = new PcapNgWriter(ms, snapLength: 64, leaveOpen: true))
        {
            w.WriteFrame(w.AddInterface("oe0"), T0, frame, CaptureDirection.Inbound);
        }
        var f = Assert.Single(new CaptureReader(ms.ToArray()).ReadAll());
        Assert.Equal(64, f.Data.Length);
        Assert.Equal(frame.Length, f.OriginalLength);
        Assert.Equal(frame.AsSpan(0, 64).ToArray(), f.Data.ToArray());
    }

    [Fact]
    public void WritingToAnUndeclaredInterfaceThrows()
    {
        using var w = new PcapNgWriter(new MemoryStream());
        Assert.Throws<ArgumentOutOfRangeException>(() => w.WriteFrame(0, T0, TestFrames.Udp(1), CaptureDirection.Inbound));
    }

    [Fact]
    public void BytesWrittenMatchesTheFileAfterFlush()
    {
        var ms = new MemoryStream();
        using var w = new PcapNgWriter(ms, leaveOpen: true);
        w.WriteFrame(w.AddInterface("oe0"), T0, TestFrames.Udp(1), CaptureDirection.Outbound);
        Assert.Equal(0, ms.Length); // still buffered
        w.Flush();
        Assert.Equal(ms.Length, w.BytesWritten);
    }

    [Fact]
    public void TsharkReadsItWithDirectionsNamesAndNoMalformedFrames()
    {
        if (!Tshark.Available) return;
        using var dir = new TempDirectory();
        string path = dir.File("sample.pcapng");
        File.WriteAllBytes(path, WriteSample(out var written));

        var rows = Tshark.Fields(path, "frame.len", "frame.packet_flags_direction", "frame.interface_name", "frame.time_epoch");
        Assert.Equal(written.Count, rows.Length);
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.Equal(written[i].frame.Length.ToString(), rows[i][0]);
            // tshark omits the field when the EPB carries no flags (our Unknown direction).
            if (written[i].dir == CaptureDirection.Unknown) Assert.Equal("", rows[i][1]);
            else Assert.Equal((int)written[i].dir, Convert.ToInt32(rows[i][1], 16));
            Assert.Equal(written[i].iface == 0 ? "oe0" : "oe-peer1", rows[i][2]);
            long ns = written[i].ts;
            Assert.Equal($"{ns / 1_000_000_000}.{ns % 1_000_000_000:D9}", rows[i][3]);
        }
        Assert.Equal(0, Tshark.Malformed(path));
    }
}
