using OffloadEmu.Link.Native;
using OffloadEmu.Wire;

namespace OffloadEmu.Link.Devices;

/// <summary>
/// An AF_PACKET SOCK_RAW socket (ETH_P_ALL) bound to one interface: whole Ethernet frames in and out,
/// bypassing the kernel's IP stack on this side.
/// </summary>
/// <remarks>
/// The device reports the interface's own MAC (overridable). Our own transmissions are not read
/// back: PACKET_IGNORE_OUTGOING (Linux 4.20+), or, where that option is missing, recvfrom with the
/// sockaddr_ll packet type and PACKET_OUTGOING frames skipped. The socket is created with protocol
/// 0 and only then bound with ETH_P_ALL, so it never sees frames of other interfaces.
/// </remarks>
public sealed unsafe class PacketSocketDevice : ILinkDevice, IReadinessSource
{
    private int _fd;
    private readonly bool _filterOutgoing;
    private readonly int _maxFrame;
    private int _disposed;

    /// <summary>Opens the socket on <see cref="PacketSocketDeviceOptions.InterfaceName"/>.</summary>
    /// <exception cref="LinkDeviceException">The interface is missing or the socket cannot be set up (needs CAP_NET_RAW).</exception>
    public PacketSocketDevice(PacketSocketDeviceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.InterfaceName);
        Name = options.InterfaceName;
        int index = InterfaceInfo.GetIndex(Name);
        Mtu = options.Mtu ?? InterfaceInfo.GetMtu(Name);
        MacAddress = options.MacAddress ?? InterfaceInfo.GetMac(Name);
        _maxFrame = FrameLimits.MaxFrameLength(Mtu);

        int fd = Libc.Socket(Libc.AF_PACKET, Libc.SOCK_RAW | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0) throw new LinkDeviceException(Name, "socket(AF_PACKET, SOCK_RAW) failed (needs CAP_NET_RAW)", Libc.Errno);
        try
        {
            int one = 1;
            _filterOutgoing = Libc.SetSockOpt(fd, Libc.SOL_PACKET, Libc.PACKET_IGNORE_OUTGOING, &one, sizeof(int)) < 0;

            if (options.SocketBufferBytes is int bytes)
            {
                Libc.SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &bytes, sizeof(int));
                Libc.SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, &bytes, sizeof(int));
            }

            var addr = default(SockAddrLl);
            addr.Family = Libc.AF_PACKET;
            addr.Protocol = Libc.HostToNetwork(Libc.ETH_P_ALL);
            addr.IfIndex = index;
            if (Libc.Bind(fd, &addr, (uint)sizeof(SockAddrLl)) < 0)
                throw new LinkDeviceException(Name, "bind(AF_PACKET) failed", Libc.Errno);

            if (options.FanoutGroup is ushort group)
            {
                int fanout = group | (Libc.PACKET_FANOUT_HASH << 16);
                if (Libc.SetSockOpt(fd, Libc.SOL_PACKET, Libc.PACKET_FANOUT, &fanout, sizeof(int)) < 0)
                    throw new LinkDeviceException(Name, $"PACKET_FANOUT (group {group}, hash) failed", Libc.Errno);
            }

            if (options.Promiscuous)
            {
                var mreq = default(PacketMReq);
                mreq.IfIndex = index;
                mreq.Type = Libc.PACKET_MR_PROMISC;
                if (Libc.SetSockOpt(fd, Libc.SOL_PACKET, Libc.PACKET_ADD_MEMBERSHIP, &mreq, (uint)sizeof(PacketMReq)) < 0)
                    throw new LinkDeviceException(Name, "PACKET_ADD_MEMBERSHIP (promiscuous) failed", Libc.Errno);
            }
        }
        catch
        {
            Libc.Close(fd);
            throw;
        }
        _fd = fd;
    }

    private static int s_fanoutGroups;

    /// <summary>
    /// Opens <paramref name="queues"/> packet sockets on one interface joined in one PACKET_FANOUT group (hash mode): the
    /// kernel gives each received frame to one socket by its flow hash; each socket sends on its own. A socket the kernel
    /// refuses ends the list there: the result may be shorter than asked (<paramref name="refusal"/> says why).
    /// </summary>
    /// <exception cref="LinkDeviceException">Not even one socket could be opened.</exception>
    public static PacketSocketDevice[] OpenQueues(PacketSocketDeviceOptions options, int queues, out string? refusal)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(queues, 1);
        refusal = null;
        if (queues == 1) return [new PacketSocketDevice(options)];
        // A group id unique to this process and call (ids are per network namespace).
        ushort group = (ushort)(Environment.ProcessId * 31 + Interlocked.Increment(ref s_fanoutGroups));
        PacketSocketDevice first;
        try
        {
            first = new PacketSocketDevice(options.WithFanout(group));
        }
        catch (LinkDeviceException ex)
        {
            var single = new PacketSocketDevice(options);
            refusal = $"PACKET_FANOUT refused ({ex.Message}; errno {ex.Errno})";
            return [single];
        }
        var list = new List<PacketSocketDevice>(queues) { first };
        for (int i = 1; i < queues; i++)
        {
            try
            {
                list.Add(new PacketSocketDevice(options.WithFanout(group)));
            }
            catch (LinkDeviceException ex)
            {
                refusal = $"socket {i} refused: {ex.Message} (errno {ex.Errno})";
                break;
            }
        }
        return [.. list];
    }

    /// <summary>Opens a promiscuous packet socket on <paramref name="interfaceName"/>.</summary>
    public static PacketSocketDevice Open(string interfaceName) => new(new PacketSocketDeviceOptions { InterfaceName = interfaceName });

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>The interface's own MAC (or the configured override).</summary>
    public MacAddress MacAddress { get; }

    /// <inheritdoc/>
    public int Mtu { get; }

    /// <summary>None: turn checksum offload off on the interface (ethtool -K tx off) so frames are complete.</summary>
    public ChecksumCapabilities Checksums => ChecksumCapabilities.None;

    /// <inheritdoc/>
    public LinkStatistics Statistics { get; } = new();

    int IReadinessSource.ReadinessDescriptor => _fd;

    /// <inheritdoc/>
    public int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (frames.IsEmpty) return 0;
        // Under load frames are already queued: read first and poll only when nothing was there,
        // which saves a system call per batch compared with poll-then-read.
        int count = Drain(frames);
        if (count > 0 || timeoutMilliseconds == 0) return count;
        var ready = FdPoller.WaitReadable(_fd, timeoutMilliseconds, out int pollErrno);
        if (ready == FdPoller.Result.TimedOut) return 0;
        if (ready == FdPoller.Result.Error && pollErrno != 0)
        {
            if (_disposed != 0) return 0;
            throw new LinkDeviceException(Name, "poll on the packet socket failed", pollErrno);
        }
        return Drain(frames);
    }

    // Reads until EAGAIN or the batch is full.
    private int Drain(Span<FrameBuffer> frames)
    {
        int count = 0;
        while (count < frames.Length)
        {
            var frame = frames[count];
            nint n;
            bool outgoing = false;
            fixed (byte* p = frame.Array)
            {
                if (_filterOutgoing)
                {
                    SockAddrLl from;
                    uint fromLength = (uint)sizeof(SockAddrLl);
                    n = Libc.RecvFrom(_fd, p, frame.Array.Length, Libc.MSG_TRUNC, &from, &fromLength);
                    outgoing = n >= 0 && from.PktType == Libc.PACKET_OUTGOING;
                }
                else
                {
                    n = Libc.Recv(_fd, p, frame.Array.Length, Libc.MSG_TRUNC);
                }
            }
            if (n < 0)
            {
                int errno = Libc.Errno;
                if (errno == Libc.EAGAIN) break;
                if (errno == Libc.EINTR) continue;
                if (_disposed != 0) break;
                if (errno == Libc.ENETDOWN) { Statistics.CountDrop(DropReason.InterfaceDown); break; }
                if (errno is Libc.ENXIO or Libc.ENODEV or Libc.EBADF)
                    throw new LinkDeviceException(Name, "packet socket read failed: the interface is gone", errno);
                Statistics.CountDrop(DropReason.IoError);
                break;
            }
            if (outgoing) continue;
            // MSG_TRUNC makes recv report the real length, so an oversized (e.g. GRO-merged) frame is seen.
            if (!FrameLimits.AcceptRead(frame, n, _maxFrame, Statistics)) continue;
            count++;
        }
        return count;
    }

    /// <inheritdoc/>
    public int Send(ReadOnlySpan<FrameBuffer> frames)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        int sent = 0;
        foreach (var frame in frames)
        {
            int length = frame.Length;
            if (!FrameLimits.CheckOutgoing(length, _maxFrame, Statistics)) continue;
            nint n;
            fixed (byte* p = frame.Array)
            {
                do n = Libc.Send(_fd, p, length, Libc.MSG_DONTWAIT);
                while (n < 0 && Libc.Errno == Libc.EINTR);
            }
            if (n >= 0) { Statistics.CountOut(length); sent++; continue; }

            int errno = Libc.Errno;
            switch (errno)
            {
                case Libc.ENETDOWN: Statistics.CountDrop(DropReason.InterfaceDown); break;
                case Libc.EAGAIN or Libc.ENOBUFS: Statistics.CountDrop(DropReason.QueueFull); break;
                case Libc.EMSGSIZE: Statistics.CountDrop(DropReason.TooLong); break;
                case Libc.ENXIO or Libc.ENODEV or Libc.EBADF when _disposed == 0:
                    throw new LinkDeviceException(Name, "packet socket send failed: the interface is gone", errno);
                default: Statistics.CountDrop(DropReason.IoError); break;
            }
        }
        return sent;
    }

    /// <summary>Closes the socket (promiscuous membership ends with it). Safe to call twice.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) Libc.Close(fd);
    }

    /// <inheritdoc/>
    public override string ToString() => $"packet {Name} ({MacAddress}, mtu {Mtu})";
}
