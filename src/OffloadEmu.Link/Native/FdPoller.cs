using System.Diagnostics;

namespace OffloadEmu.Link.Native;

/// <summary>Waits for a descriptor to become readable, restarting after EINTR with the time left.</summary>
internal static unsafe class FdPoller
{
    /// <summary>Readable, timed out, or the descriptor reports an error/hang-up.</summary>
    internal enum Result { Readable, TimedOut, Error }

    /// <summary>Polls <paramref name="fd"/> for input for at most <paramref name="timeoutMilliseconds"/> (-1 = forever).</summary>
    /// <param name="fd">The descriptor.</param>
    /// <param name="timeoutMilliseconds">0 = just check, -1 = wait forever.</param>
    /// <param name="errno">errno when poll itself failed, else 0.</param>
    internal static Result WaitReadable(int fd, int timeoutMilliseconds, out int errno)
    {
        long start = timeoutMilliseconds > 0 ? Stopwatch.GetTimestamp() : 0;
        int remaining = timeoutMilliseconds;
        while (true)
        {
            PollFd p;
            p.Fd = fd;
            p.Events = Libc.POLLIN;
            p.REvents = 0;
            int rc = Libc.Poll(&p, 1, remaining);
            if (rc > 0)
            {
                errno = 0;
                // POLLIN together with POLLHUP still has data to read; only a bare error is fatal.
                if ((p.REvents & Libc.POLLIN) != 0) return Result.Readable;
                return (p.REvents & (Libc.POLLERR | Libc.POLLHUP | Libc.POLLNVAL)) != 0 ? Result.Error : Result.TimedOut;
            }
            if (rc == 0) { errno = 0; return Result.TimedOut; }
            errno = Libc.Errno;
            if (errno != Libc.EINTR) return Result.Error;
            if (timeoutMilliseconds > 0)
            {
                remaining = timeoutMilliseconds - (int)Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (remaining <= 0) { errno = 0; return Result.TimedOut; }
            }
        }
    }
}
