using System.Diagnostics;
using OffloadEmu.Link.Devices;
using OffloadEmu.Link.Native;

namespace OffloadEmu.Link.Tests;

/// <summary>The engine's wait on "device input or a wake-up": a second eventfd stands in for the device's descriptor.</summary>
public sealed class LinkWaiterTests
{
    private static int NewEventFd()
    {
        int fd = Libc.EventFd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
        Assert.True(fd >= 0, $"eventfd failed: errno {Libc.Errno}");
        return fd;
    }

    private static unsafe void MakeReadable(int fd)
    {
        ulong one = 1;
        Assert.Equal(8, (int)Libc.Write(fd, (byte*)&one, 8));
    }

    [Fact]
    public void Wait_times_out_without_input_or_signal()
    {
        if (!OperatingSystem.IsLinux()) return;
        int device = NewEventFd();
        try
        {
            using var waiter = new LinkWaiter(device);
            var sw = Stopwatch.StartNew();
            Assert.False(waiter.Wait(30));
            Assert.True(sw.ElapsedMilliseconds >= 25, $"returned after {sw.ElapsedMilliseconds} ms");
        }
        finally
        {
            Libc.Close(device);
        }
    }

    [Fact]
    public void Signal_from_another_thread_ends_a_long_wait_and_is_consumed()
    {
        if (!OperatingSystem.IsLinux()) return;
        int device = NewEventFd();
        try
        {
            using var waiter = new LinkWaiter(device);
            var sw = Stopwatch.StartNew();
            var signaller = new Thread(() =>
            {
                Thread.Sleep(20);
                waiter.Signal();
            });
            signaller.Start();
            Assert.False(waiter.Wait(10_000));   // woken, but the device has nothing
            Assert.True(sw.ElapsedMilliseconds < 5_000, $"woken only after {sw.ElapsedMilliseconds} ms");
            signaller.Join();
            // The signal was consumed: the next wait times out again.
            Assert.False(waiter.Wait(20));
            Assert.True(sw.ElapsedMilliseconds >= 35);
        }
        finally
        {
            Libc.Close(device);
        }
    }

    [Fact]
    public void Device_input_is_reported_until_the_device_is_no_longer_watched()
    {
        if (!OperatingSystem.IsLinux()) return;
        int device = NewEventFd();
        try
        {
            using var waiter = new LinkWaiter(device);
            MakeReadable(device);
            Assert.True(waiter.Wait(1_000));
            Assert.True(waiter.Wait(0));   // still readable: the waiter never reads the device
            waiter.StopWatchingDevice();
            var sw = Stopwatch.StartNew();
            Assert.False(waiter.Wait(30));
            Assert.True(sw.ElapsedMilliseconds >= 25, $"returned after {sw.ElapsedMilliseconds} ms");
        }
        finally
        {
            Libc.Close(device);
        }
    }

    [Fact]
    public void Signal_and_wait_allocate_nothing()
    {
        if (!OperatingSystem.IsLinux()) return;
        int device = NewEventFd();
        try
        {
            using var waiter = new LinkWaiter(device);
            for (int i = 0; i < 100; i++)
            {
                waiter.Signal();
                waiter.Wait(0);
            }
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10_000; i++)
            {
                waiter.Signal();
                Assert.False(waiter.Wait(1_000));   // woken by the signal at once; the device has nothing
            }
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        finally
        {
            Libc.Close(device);
        }
    }

    private sealed class SwitchingSource : IReadinessSource
    {
        public int ReadinessDescriptor { get; set; } = -1;
    }

    [Fact]
    public void The_descriptor_is_read_at_every_wait_so_a_replaced_device_is_watched_and_none_means_signal_or_timeout()
    {
        if (!OperatingSystem.IsLinux()) return;
        int first = NewEventFd(), second = NewEventFd();
        try
        {
            var source = new SwitchingSource { ReadinessDescriptor = first };
            using var waiter = new LinkWaiter(source);
            MakeReadable(first);
            Assert.True(waiter.Wait(1_000));
            // Lost: no descriptor; the readable first one is no longer watched, the wait ends by timeout or signal.
            source.ReadinessDescriptor = -1;
            var sw = Stopwatch.StartNew();
            Assert.False(waiter.Wait(30));
            Assert.True(sw.ElapsedMilliseconds >= 25, $"returned after {sw.ElapsedMilliseconds} ms");
            waiter.Signal();
            Assert.False(waiter.Wait(10_000));
            // Replaced: the new descriptor is watched, the old one no more.
            source.ReadinessDescriptor = second;
            Assert.False(waiter.Wait(30));
            MakeReadable(second);
            Assert.True(waiter.Wait(1_000));
        }
        finally
        {
            Libc.Close(first);
            Libc.Close(second);
        }
    }

    [Fact]
    public void Signal_after_dispose_does_nothing()
    {
        if (!OperatingSystem.IsLinux()) return;
        int device = NewEventFd();
        try
        {
            var waiter = new LinkWaiter(device);
            waiter.Dispose();
            waiter.Signal();
            waiter.Dispose();
            Assert.Throws<ObjectDisposedException>(() => waiter.Wait(0));
        }
        finally
        {
            Libc.Close(device);
        }
    }

    [Fact]
    public void Devices_without_a_descriptor_get_no_waiter_also_under_a_capture()
    {
        MemoryLink.CreatePair(out var a, out var b);
        using (a)
        using (b)
        {
            Assert.Null(LinkWaiter.TryCreate(a));
            using var capture = new Decorators.CaptureDevice(a, new MemoryStream());
            Assert.Null(LinkWaiter.TryCreate(capture));
        }
    }
}
