using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace OffloadEmu.Control.Native;

/// <summary>
/// One non-blocking gathered write: <c>sendmsg(fd, iov[], MSG_DONTWAIT | MSG_NOSIGNAL)</c> on the caller's thread, so a
/// message queued while the socket has room goes out at once instead of waking a send loop (docs/control.md, threads).
/// .NET's <see cref="Socket.Send(IList{ArraySegment{byte}}, SocketFlags, out SocketError)"/> cannot be used for this:
/// on a non-blocking socket it reports a partly sent batch as 0 bytes. Linux only (LP64 <c>struct msghdr</c>); elsewhere
/// <see cref="IsSupported"/> is false and the caller uses the asynchronous path.
/// </summary>
internal static unsafe partial class SocketWrite
{
    private const int MsgDontWait = 0x40;
    private const int MsgNoSignal = 0x4000;
    private const int EAgain = 11;
    private const int EIntr = 4;

    /// <summary>At most this many segments per call (well under IOV_MAX, 1024).</summary>
    public const int MaxSegments = 64;

    public static bool IsSupported { get; } = OperatingSystem.IsLinux() && IntPtr.Size == 8;

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsg(int fd, MsgHdr* message, int flags);

    /// <summary>
    /// Writes what the socket takes now of <paramref name="segments"/> from byte <paramref name="offset"/> on (across
    /// segments) and returns how many bytes went; 0 when the socket is full. Throws <see cref="SocketException"/> on an
    /// error and <see cref="ObjectDisposedException"/> when the socket is closed (the descriptor is held for the call,
    /// so a concurrent close cannot make it write to a reused descriptor).
    /// </summary>
    public static long TrySend(Socket socket, List<ArraySegment<byte>> segments, long offset)
    {
        var handle = socket.SafeHandle;
        bool added = false;
        var pins = stackalloc GCHandle[MaxSegments];
        var iov = stackalloc IoVec[MaxSegments];
        int count = 0;
        try
        {
            handle.DangerousAddRef(ref added);
            long skip = offset;
            foreach (var s in segments)
            {
                if (count == MaxSegments) break;
                if (skip >= s.Count)
                {
                    skip -= s.Count;
                    continue;
                }
                pins[count] = GCHandle.Alloc(s.Array, GCHandleType.Pinned);
                iov[count].Base = (byte*)pins[count].AddrOfPinnedObject() + s.Offset + skip;
                iov[count].Length = (nuint)(s.Count - skip);
                skip = 0;
                count++;
            }
            if (count == 0) return 0;
            var message = new MsgHdr { Iov = iov, IovLength = (nuint)count };
            int fd = (int)handle.DangerousGetHandle();
            while (true)
            {
                nint sent = SendMsg(fd, &message, MsgDontWait | MsgNoSignal);
                if (sent >= 0) return sent;
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EIntr) continue;
                if (errno == EAgain) return 0;
                throw new SocketException(errno == 32 ? (int)SocketError.Shutdown : errno == 104 ? (int)SocketError.ConnectionReset : (int)SocketError.SocketError);
            }
        }
        finally
        {
            for (int i = 0; i < count; i++) pins[i].Free();
            if (added) handle.DangerousRelease();
        }
    }
}

/// <summary>
/// Blocking reads for a connection's own receive thread: <c>recv</c>, and <c>poll</c> for input when the descriptor is
/// non-blocking (.NET makes it so once an asynchronous operation ran on the socket). One kernel wake-up per arrival
/// instead of the epoll thread's and then a pool thread's (docs/control.md, threads). Linux only, like
/// <see cref="SocketWrite"/>.
/// </summary>
internal static unsafe partial class SocketRead
{
    private const int EAgain = 11;
    private const int EIntr = 4;
    private const short PollIn = 0x1;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(PollFd* fds, nuint count, int timeout);

    /// <summary>Waits for bytes and reads what is there into <paramref name="destination"/>; 0 when the peer closed
    /// (or the socket was shut down). Throws <see cref="SocketException"/> on an error. The caller holds a reference
    /// on the socket's handle for as long as it reads (see <see cref="SocketWrite.TrySend"/>).</summary>
    public static int Receive(int fd, Span<byte> destination)
    {
        fixed (byte* p = destination)
        {
            while (true)
            {
                nint n = Recv(fd, p, (nuint)destination.Length, 0);
                if (n >= 0) return (int)n;
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EIntr) continue;
                if (errno != EAgain) throw new SocketException(errno == 104 ? (int)SocketError.ConnectionReset : (int)SocketError.SocketError);
                var pfd = new PollFd { Fd = fd, Events = PollIn };
                if (Poll(&pfd, 1, -1) < 0 && Marshal.GetLastPInvokeError() != EIntr)
                    throw new SocketException((int)SocketError.SocketError);
            }
        }
    }
}
