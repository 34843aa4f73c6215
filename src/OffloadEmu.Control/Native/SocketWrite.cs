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
