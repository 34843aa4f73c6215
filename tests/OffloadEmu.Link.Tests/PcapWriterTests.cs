using OffloadEmu.Link.Capture;

namespace OffloadEmu.Link.Tests;

public class PcapWriterTests
{
    private const long T0 = 1_763_000_000_987_654_321;

    private static byte[] WriteSample(out List<(long ts, byte[] frame)> written)
    {
        written = new();
        var ms = new MemoryStream();
        using (var w = new PcapWriter(ms, leaveOpen: true, bufferSize: 1024))
        {
            Assert.Equal(0, w.AddInterface("ignored"));
            for (int i = 0; i < 10; i++)
            {
                var frame = i % 2 == 0 ? TestFrames.IcmpEcho(i, 16 * i) : TestFrames.Udp(i, 100 + i);
                long ts = T0 + i * 333_333_333L;
                w.WriteFrame(0, ts, frame, CaptureDirection.Outbound);
                written.Add((ts, frame));
            }
        }
        return ms.ToArray();
    }

    [Fact]
    public void WritesTheNanosecondMagicAndEthernetLinkType()
    {
        var bytes = WriteSample(out _);
        Assert.Equal(new byte[] { 0x4d, 0x3c, 0xb2, 0xa1 }, bytes[..4]);
        Assert.Equal(1, BitConverter.ToInt32(bytes, 20));
    }

    [Fact]
    public void RoundTripsThroughCaptureReader()
    {
        var bytes = WriteSample(out var written);
        var reader = new CaptureReader(bytes);
        Assert.Equal(CaptureFormat.Pcap, reader.Format);
        var frames = reader.ReadAll().ToList();
        Assert.Equal(written.Count, frames.Count);
        for (int i = 0; i < frames.Count; i++)
        {
            Assert.Equal(written[i].ts, frames[i].TimestampNs);
            Assert.Equal(written[i].frame, frames[i].Data.ToArray());
            Assert.Equal(written[i].frame.Length, frames[i].OriginalLength);
            Assert.Equal(CaptureDirection.Unknown, frames[i].Direction);
            Assert.Null(frames[i].InterfaceName);
        }
    }

    [Fact]
    public void TsharkReadsItToTheNanosecond()
    {
        if (!Tshark.Available) return;
        using var dir = new TempDirectory();
        string path = dir.File("sample.pcap");
        File.WriteAllBytes(path, WriteSample(out var written));
        var rows = Tshark.Fields(path, "frame.len", "frame.time_epoch", "eth.type");
        Assert.Equal(written.Count, rows.Length);
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.Equal(written[i].frame.Length.ToString(), rows[i][0]);
            long ns = written[i].ts;
            Assert.Equal($"{ns / 1_000_000_000}.{ns % 1_000_000_000:D9}", rows[i][1]);
            Assert.Equal("0x0800", rows[i][2]);
        }
        Assert.Equal(0, Tshark.Malformed(path));
    }
}
