using System.Runtime.InteropServices;
using OffloadEmu.Link.Native;
using OffloadEmu.Wire;

namespace OffloadEmu.Link.Devices;

/// <summary>
/// A Linux TAP interface (/dev/net/tun, IFF_TAP | IFF_NO_PI) as the wire of the emulated NIC.
/// </summary>
/// <remarks>
/// <para>The TAP file descriptor is the NIC's cable: frames we write appear as received by the
/// kernel's TAP interface, and frames the kernel sends out of the TAP are what we read. So the
/// kernel-side MAC of the TAP (<see cref="PeerMacAddress"/>) belongs to the peer, and
/// <see cref="MacAddress"/> is the emulated NIC's own MAC: configured by the caller, or a locally
/// administered address derived deterministically from the interface name.</para>
/// <para>The descriptor is non-blocking; <see cref="Receive"/> polls for the first frame and then
/// drains until EAGAIN or the batch is full. EIO on write (interface administratively down) is a
/// counted <see cref="DropReason.InterfaceDown"/>, not an error. The descriptor keeps working after
/// the interface is moved to another network namespace (<c>ip link set NAME netns NS</c>).</para>
/// </remarks>
public sealed unsafe class TapDevice : ILinkDevice, IReadinessSource
{
    // struct virtio_net_hdr without num_buffers (TUNSETVNETHDRSZ 10; the tun default is the same, set explicitly).
    private const int VnetHeaderSize = VirtioNetHeader.Length;
    private int _fd;
    private readonly bool _vnet;
    private readonly bool _offload;
    private readonly int _maxFrame;
    private readonly int _maxSuperFrame;
    // virtio-net header scratch on the pinned object heap so readv/writev can point at it. Receive and
    // send run on different threads, so each has its own; the send one stays all-zero (no offload asked) unless the
    // device is in segmentation-offload mode, where it carries each frame's FrameBuffer.Offload.
    private readonly byte[] _vnetRx;
    private readonly byte[] _vnetTx;
    private int _disposed;

    /// <summary>Creates (or attaches to) a TAP interface as described by <paramref name="options"/>.</summary>
    /// <exception cref="LinkDeviceException">/dev/net/tun cannot be opened, the TAP cannot be created or attached.</exception>
    public TapDevice(TapDeviceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        string requested = options.Name;
        if (options.AttachOnly && Libc.IfNameToIndex(requested) == 0)
            throw new LinkDeviceException(requested, "no TAP of this name exists in this network namespace (AttachOnly)", Libc.Errno);

        // An existing TAP's MTU is read by name before attaching: once attached (its fd then names it in fdinfo) its owner
        // may move it to another namespace at once, where a by-name ioctl of ours would find no such device (ENODEV).
        int? mtu = options.Mtu ?? (Libc.IfNameToIndex(requested) != 0 ? TryGetMtu(requested) : null);

        int fd = Libc.Open("/dev/net/tun", Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
        if (fd < 0) throw new LinkDeviceException(requested, "cannot open /dev/net/tun (needs CAP_NET_ADMIN and the tun module)", Libc.Errno);
        try
        {
            var req = IfReq.ForName(requested);
            bool vnet = options.VnetHeader || options.SegmentationOffload;
            req.Flags = (short)(Libc.IFF_TAP | Libc.IFF_NO_PI | (vnet ? Libc.IFF_VNET_HDR : 0)
                | (options.MultiQueue ? Libc.IFF_MULTI_QUEUE : 0));
            if (Libc.Ioctl(fd, Libc.TUNSETIFF, &req) < 0)
                throw new LinkDeviceException(requested, "TUNSETIFF failed (busy, not a TAP, or no permission)", Libc.Errno);
            Name = req.GetName();

            if (vnet)
            {
                int size = VnetHeaderSize;
                if (Libc.Ioctl(fd, Libc.TUNSETVNETHDRSZ, &size) < 0)
                    throw new LinkDeviceException(Name, "TUNSETVNETHDRSZ failed", Libc.Errno);
                // The header's 16-bit fields little-endian whatever the host (virtio 1.x); x86-64 and AArch64 already are
                // (the legacy default), so a kernel without TUNSETVNETLE is only a problem on a big-endian host.
                int le = 1;
                if (Libc.Ioctl(fd, Libc.TUNSETVNETLE, &le) < 0 && !BitConverter.IsLittleEndian)
                    throw new LinkDeviceException(Name, "TUNSETVNETLE failed (a big-endian host needs it for the virtio-net header)", Libc.Errno);
            }
            if (options.SegmentationOffload)
            {
                // TUNSETOFFLOAD takes the flags by value: what we accept from the kernel (partial checksums, TCP GSO of
                // both families, with CWR). Frames we write may carry GSO whatever these say.
                nuint offloads = Libc.TUN_F_CSUM | Libc.TUN_F_TSO4 | Libc.TUN_F_TSO6 | Libc.TUN_F_TSO_ECN;
                if (Libc.Ioctl(fd, Libc.TUNSETOFFLOAD, (void*)offloads) < 0)
                    throw new LinkDeviceException(Name, "TUNSETOFFLOAD(CSUM|TSO4|TSO6|TSO_ECN) failed", Libc.Errno);
            }
            else
            {
                // The offloads are the TAP's, not the descriptor's: a persistent TAP last opened in segmentation-offload
                // mode would keep handing over GSO frames with partial checksums, which this mode cannot read. Clear them
                // (best effort: nothing else sets them, and a kernel without the ioctl never had them).
                Libc.Ioctl(fd, Libc.TUNSETOFFLOAD, (void*)0);
            }
            if (options.Persist && Libc.Ioctl(fd, Libc.TUNSETPERSIST, (void*)1) < 0)
                throw new LinkDeviceException(Name, "TUNSETPERSIST failed", Libc.Errno);

            // The tun driver answers SIOCGIFHWADDR on its own fd, so this works in any namespace.
            var hw = default(IfReq);
            if (Libc.Ioctl(fd, Libc.SIOCGIFHWADDR, &hw) < 0)
                throw new LinkDeviceException(Name, "SIOCGIFHWADDR on the TAP fd failed", Libc.Errno);
            PeerMacAddress = Wire.MacAddress.Read(new ReadOnlySpan<byte>(hw.HwAddrData, Wire.MacAddress.Length));

            Mtu = mtu ?? InterfaceInfo.GetMtu(Name);
            MacAddress = options.MacAddress ?? DeriveMac(Name);
        }
        catch
        {
            Libc.Close(fd);
            throw;
        }
        _fd = fd;
        _vnet = options.VnetHeader || options.SegmentationOffload;
        _offload = options.SegmentationOffload;
        _vnetRx = GC.AllocateArray<byte>(16, pinned: true);
        _vnetTx = GC.AllocateArray<byte>(16, pinned: true);
        _maxFrame = FrameLimits.MaxFrameLength(Mtu);
        _maxSuperFrame = _offload ? FramePool.SuperFrameBufferSize : _maxFrame;
    }

    /// <summary>Creates or attaches to the TAP <paramref name="name"/> (a "%d" pattern is allowed).</summary>
    public static TapDevice Open(string name, MacAddress? macAddress = null) => new(new TapDeviceOptions { Name = name, MacAddress = macAddress });

    /// <summary>
    /// Opens <paramref name="queues"/> queues of one multi-queue TAP (IFF_MULTI_QUEUE; TUNSETIFF on each descriptor, the
    /// first creates or attaches as <paramref name="options"/> say, the others attach to the name it resolved). For
    /// frames it sends to us the kernel's tun driver picks the queue per flow: the queue we last transmitted that flow
    /// on (automq), else by the packet's hash. A TAP that cannot be multi-queue (created without <c>multi_queue</c>)
    /// gives one ordinary queue, and a queue the kernel refuses ends the list there: the result may be shorter than
    /// asked (<paramref name="refusal"/> says why; null when all were opened).
    /// </summary>
    /// <exception cref="LinkDeviceException">Not even one queue could be opened.</exception>
    public static TapDevice[] OpenQueues(TapDeviceOptions options, int queues, out string? refusal)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(queues, 1);
        refusal = null;
        if (queues == 1) return [new TapDevice(options)];
        TapDevice first;
        try
        {
            first = new TapDevice(options.ForQueue(options.Name, multiQueue: true, first: true));
        }
        catch (LinkDeviceException ex)
        {
            // Typically EINVAL: an existing TAP made without multi_queue. One ordinary queue, as before.
            var single = new TapDevice(options);
            refusal = $"the TAP cannot be opened multi-queue ({ex.Message}; errno {ex.Errno}); create it with 'ip tuntap add ... multi_queue'";
            return [single];
        }
        var list = new List<TapDevice>(queues) { first };
        for (int i = 1; i < queues; i++)
        {
            TapDevice queue;
            try
            {
                queue = new TapDevice(options.ForQueue(first.Name, multiQueue: true, first: false));
            }
            catch (LinkDeviceException ex)
            {
                refusal = $"queue {i} refused: {ex.Message} (errno {ex.Errno})";
                break;
            }
            // The same device? Its kernel-side MAC (asked of the descriptor, so in any namespace) says. Between the
            // attach-only check and TUNSETIFF the TAP may still have left this namespace and a new one of that name
            // appeared here: a queue on it would read nothing, and its loop's connections would send into nowhere.
            if (queue.PeerMacAddress != first.PeerMacAddress)
            {
                queue.Dispose();
                refusal = $"queue {i} attached to another TAP named '{first.Name}' (kernel-side MAC {queue.PeerMacAddress}, not {first.PeerMacAddress}): the TAP moved to another network namespace while its queues were opened";
                break;
            }
            list.Add(queue);
        }
        return [.. list];
    }

    /// <summary>Attaches to an existing persistent TAP <paramref name="name"/> in this namespace.</summary>
    public static TapDevice Attach(string name, MacAddress? macAddress = null)
        => new(new TapDeviceOptions { Name = name, MacAddress = macAddress, AttachOnly = true });

    /// <summary>The interface name the kernel assigned (a "%d" pattern resolved).</summary>
    public string Name { get; }

    /// <summary>The emulated NIC's own MAC (configured, or derived from the name); not the TAP's kernel-side MAC.</summary>
    public MacAddress MacAddress { get; }

    /// <summary>The kernel-side MAC of the TAP interface: the peer's address on this link.</summary>
    public MacAddress PeerMacAddress { get; }

    /// <inheritdoc/>
    public int Mtu { get; }

    private static int? TryGetMtu(string name)
    {
        try
        {
            return InterfaceInfo.GetMtu(name);
        }
        catch (LinkDeviceException)
        {
            return null;   // gone meanwhile: read again after the attach
        }
    }

    /// <summary>None: without TUNSETOFFLOAD the kernel hands over and expects fully checksummed frames. In
    /// segmentation-offload mode: partial checksums both ways (TxOffload), trusted receive checksums (RxValidated) and
    /// super-segments (SegmentationOffload).</summary>
    public ChecksumCapabilities Checksums => _offload
        ? ChecksumCapabilities.TxOffload | ChecksumCapabilities.RxValidated | ChecksumCapabilities.SegmentationOffload
        : ChecksumCapabilities.None;

    /// <summary>Opened in segmentation-offload mode (<see cref="TapDeviceOptions.SegmentationOffload"/>).</summary>
    public bool SegmentationOffload => _offload;

    /// <inheritdoc/>
    public LinkStatistics Statistics { get; } = new();

    /// <summary>The raw file descriptor (for diagnostics and benchmarks).</summary>
    internal int FileDescriptor => _fd;

    int IReadinessSource.ReadinessDescriptor => _fd;

    /// <summary>A locally administered unicast MAC (02:xx:xx:xx:xx:xx) from an FNV-1a hash of <paramref name="name"/>.</summary>
    public static MacAddress DeriveMac(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        ulong hash = 14695981039346656037UL;
        foreach (char c in name) { hash ^= c; hash *= 1099511628211UL; }
        return Wire.MacAddress.FromUInt64((0x02UL << 40) | (hash & 0xFF_FFFF_FFFFUL));
    }

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
        if (ready == FdPoller.Result.Error)
        {
            if (_disposed != 0) return 0;
            throw new LinkDeviceException(Name, "poll on the TAP fd failed", pollErrno);
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
            nint n = ReadOne(frame.Array);
            if (n < 0)
            {
                int errno = Libc.Errno;
                if (errno == Libc.EAGAIN) break;
                if (errno == Libc.EINTR) continue;
                if (_disposed != 0) break;
                if (errno == Libc.EBADFD || errno == Libc.EBADF || errno == Libc.ENXIO)
                    throw new LinkDeviceException(Name, "TAP read failed: the device is gone", errno);
                Statistics.CountDrop(DropReason.IoError);
                break;
            }
            if (_offload)
            {
                // The header the kernel wrote describes the frame: a super-frame's gso size/type, a partial checksum.
                VirtioNetHeader.TryRead(_vnetRx, out var header);
                if (n >= FrameLimits.MinFrameLength && header.Validate((int)n) != WireError.None)
                {
                    Statistics.CountDrop(DropReason.BadOffloadHeader);
                    continue;
                }
                if (!FrameLimits.AcceptRead(frame, n, _maxSuperFrame, Statistics)) continue;
                frame.Offload = header;
                if (header.IsGso) Statistics.CountSuperFrameIn();
            }
            else if (!FrameLimits.AcceptRead(frame, n, _maxFrame, Statistics))
            {
                continue;
            }
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
            var offload = _offload ? frame.Offload : default;
            if (!FrameLimits.CheckOutgoing(length, offload.IsGso ? _maxSuperFrame : _maxFrame, Statistics)) continue;
            if (_offload) offload.Write(_vnetTx);
            nint n;
            do n = WriteOne(frame.Array, length);
            while (n < 0 && Libc.Errno == Libc.EINTR);
            if (n >= 0)
            {
                Statistics.CountOut(length);
                if (offload.IsGso) Statistics.CountSuperFrameOut();
                sent++;
                continue;
            }

            int errno = Libc.Errno;
            switch (errno)
            {
                case Libc.EIO: Statistics.CountDrop(DropReason.InterfaceDown); break;   // TAP admin-down
                case Libc.EAGAIN or Libc.ENOBUFS: Statistics.CountDrop(DropReason.QueueFull); break;
                case Libc.EINVAL or Libc.EMSGSIZE: Statistics.CountDrop(DropReason.TooLong); break;
                case Libc.EBADFD or Libc.EBADF or Libc.ENXIO when _disposed == 0:
                    throw new LinkDeviceException(Name, "TAP write failed: the device is gone", errno);
                default: Statistics.CountDrop(DropReason.IoError); break;
            }
        }
        return sent;
    }

    private nint ReadOne(byte[] buffer)
    {
        fixed (byte* p = buffer)
        {
            if (!_vnet) return Libc.Read(_fd, p, buffer.Length);
            IoVec* iov = stackalloc IoVec[2];
            fixed (byte* h = _vnetRx)
            {
                iov[0].Base = h; iov[0].Length = VnetHeaderSize;
                iov[1].Base = p; iov[1].Length = (nuint)buffer.Length;
                nint n = Libc.ReadV(_fd, iov, 2);
                return n < 0 ? n : Math.Max(0, n - VnetHeaderSize);
            }
        }
    }

    private nint WriteOne(byte[] buffer, int length)
    {
        fixed (byte* p = buffer)
        {
            if (!_vnet) return Libc.Write(_fd, p, length);
            IoVec* iov = stackalloc IoVec[2];
            fixed (byte* h = _vnetTx)
            {
                iov[0].Base = h; iov[0].Length = VnetHeaderSize;
                iov[1].Base = p; iov[1].Length = (nuint)length;
                return Libc.WriteV(_fd, iov, 2);
            }
        }
    }

    /// <summary>Closes the descriptor (a non-persistent TAP disappears with it). Safe to call twice.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) Libc.Close(fd);
    }

    /// <inheritdoc/>
    public override string ToString() => $"tap {Name} ({MacAddress}, peer {PeerMacAddress}, mtu {Mtu}{(_offload ? ", segmentation offload" : "")})";
}
