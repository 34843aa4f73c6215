using System.Diagnostics;
using OffloadEmu.Link;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Daemon.Tests;

/// <summary>The test's end of the daemon's memory link: send frames, receive one, wait for a condition.</summary>
internal static class PeerIo
{
    /// <summary>Sends <paramref name="frame"/>, waiting while the daemon's bounded ring is full.</summary>
    public static void Send(MemoryLink peer, byte[] frame)
    {
        var pool = new FramePool();
        var b = pool.Rent();
        frame.CopyTo(b.Capacity);
        b.Length = frame.Length;
        while (peer.Send([b]) == 0) Thread.Sleep(1);
        pool.Return(b);
    }

    /// <summary>The next frame the daemon sent (fails after 10 s).</summary>
    public static byte[] ReceiveOne(MemoryLink peer)
    {
        var pool = new FramePool();
        var batch = new[] { pool.Rent() };
        var sw = Stopwatch.StartNew();
        int n = 0;
        while (n == 0 && sw.Elapsed < TimeSpan.FromSeconds(10)) n = peer.Receive(batch, 100);
        Assert.Equal(1, n);
        return batch[0].Span.ToArray();
    }

    public static void WaitFor(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(10)) Assert.Fail("timed out waiting for " + what);
            Thread.Sleep(5);
        }
    }
}
