using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using OffloadEmu.Link.Native;
using OffloadEmu.Wire;

namespace OffloadEmu.Link.Devices;

/// <summary>
/// An interface opened through our own libpcap/Npcap binding: immediate mode, non-blocking handle,
/// poll on the selectable descriptor, a pcap_next_ex loop per batch, pcap_sendpacket to send.
/// </summary>
/// <remarks>
/// With <see cref="PcapDeviceOptions.IncomingOnly"/> (the default) the handle captures only
/// incoming frames, so the frames we send are not read back (pcap_setdirection PCAP_D_IN; on
/// Linux libpcap implements it with the packet type, as PACKET_IGNORE_OUTGOING would). Where the
/// platform has no selectable descriptor (Windows), Receive polls pcap_next_ex with 1 ms sleeps.
/// </remarks>
public sealed unsafe class PcapDevice : ILinkDevice
{
    private readonly Pcap.Api _api;
    private nint _handle;
    private readonly int _selectableFd;
    private readonly int _maxFrame;
    private int _disposed;

    /// <summary>Opens and activates the interface as described by <paramref name="options"/>.</summary>
    /// <exception cref="LinkDeviceException">libpcap is missing, or the interface cannot be opened or the filter compiled.</exception>
    public PcapDevice(PcapDeviceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.InterfaceName);
        Name = options.InterfaceName;
        _api = Pcap.Functions(Name);

        if (OperatingSystem.IsLinux())
        {
            Mtu = options.Mtu ?? InterfaceInfo.GetMtu(Name);
            MacAddress = options.MacAddress ?? InterfaceInfo.GetMac(Name);
        }
        else
        {
            Mtu = options.Mtu ?? 1500;
            MacAddress = options.MacAddress ?? throw new LinkDeviceException(Name, "MacAddress must be configured for pcap devices on this platform");
        }
        _maxFrame = FrameLimits.MaxFrameLength(Mtu);

        byte* errbuf = stackalloc byte[Pcap.ErrorBufferSize];
        errbuf[0] = 0;
        byte[] name = Encoding.UTF8.GetBytes(Name + "\0");
        nint handle;
        fixed (byte* n = name) handle = _api.Create(n, errbuf);
        if (handle == 0) throw new LinkDeviceException(Name, "pcap_create failed: " + Pcap.Text(errbuf));
        try
        {
            // Snap length covers a jumbo frame; immediate mode hands frames over as they arrive
            // instead of filling a TPACKET_V3 block first (which would add up to the timeout in latency).
            Check(_api.SetSnaplen(handle, Math.Max(_maxFrame, 65535)), handle, "pcap_set_snaplen");
            Check(_api.SetImmediateMode(handle, 1), handle, "pcap_set_immediate_mode");
            Check(_api.SetPromisc(handle, options.Promiscuous ? 1 : 0), handle, "pcap_set_promisc");
            Check(_api.SetTimeout(handle, 1), handle, "pcap_set_timeout");
            if (options.BufferSizeBytes is int size) Check(_api.SetBufferSize(handle, size), handle, "pcap_set_buffer_size");
            int rc = _api.Activate(handle);
            if (rc < 0) throw new LinkDeviceException(Name, $"pcap_activate failed ({rc}): {Pcap.Text(_api.GetErr(handle))}");
            // rc > 0 is a warning (e.g. promiscuous mode unsupported); the handle works.

            if (options.IncomingOnly)
            {
                if (_api.SetDirection == null || _api.SetDirection(handle, Pcap.DirectionIn) < 0)
                    throw new LinkDeviceException(Name, "pcap_setdirection(PCAP_D_IN) failed: " + (_api.SetDirection == null ? "not supported" : Pcap.Text(_api.GetErr(handle))));
            }
            if (options.Filter is { } filter) SetFilter(handle, filter);

            if (_api.SetNonblock(handle, 1, errbuf) < 0)
                throw new LinkDeviceException(Name, "pcap_setnonblock failed: " + Pcap.Text(errbuf));
            _selectableFd = _api.GetSelectableFd == null ? -1 : _api.GetSelectableFd(handle);
        }
        catch
        {
            _api.Close(handle);
            throw;
        }
        _handle = handle;
    }

    /// <summary>Opens <paramref name="interfaceName"/> promiscuously, incoming frames only, with an optional BPF filter.</summary>
    public static PcapDevice Open(string interfaceName, string? filter = null)
        => new(new PcapDeviceOptions { InterfaceName = interfaceName, Filter = filter });

    /// <summary>True when libpcap/Npcap can be loaded on this machine.</summary>
    public static bool IsAvailable => Pcap.IsAvailable;

    /// <summary>libpcap's version banner.</summary>
    /// <exception cref="LinkDeviceException">libpcap is missing.</exception>
    public static string LibraryVersion => Pcap.Version("pcap");

    /// <summary>Names of the interfaces libpcap can open (pcap_findalldevs).</summary>
    /// <exception cref="LinkDeviceException">libpcap is missing or the list cannot be read.</exception>
    public static IReadOnlyList<string> ListInterfaces()
    {
        var api = Pcap.Functions("pcap");
        byte* errbuf = stackalloc byte[Pcap.ErrorBufferSize];
        errbuf[0] = 0;
        PcapInterface* list;
        if (api.FindAllDevs(&list, errbuf) < 0) throw new LinkDeviceException("pcap", "pcap_findalldevs failed: " + Pcap.Text(errbuf));
        var names = new List<string>();
        try
        {
            for (var i = list; i != null; i = i->Next) names.Add(Pcap.Text(i->Name));
        }
        finally
        {
            if (list != null) api.FreeAllDevs(list);
        }
        return names;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>The interface's own MAC (or the configured override).</summary>
    public MacAddress MacAddress { get; }

    /// <inheritdoc/>
    public int Mtu { get; }

    /// <summary>None: frames are handed over and taken as they are on the wire.</summary>
    public ChecksumCapabilities Checksums => ChecksumCapabilities.None;

    /// <inheritdoc/>
    public LinkStatistics Statistics { get; } = new();

    /// <inheritdoc/>
    public int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (frames.IsEmpty) return 0;
        int count = Drain(frames);
        if (count > 0 || timeoutMilliseconds == 0) return count;

        if (_selectableFd >= 0)
        {
            var ready = FdPoller.WaitReadable(_selectableFd, timeoutMilliseconds, out int errno);
            if (ready == FdPoller.Result.TimedOut) return 0;
            if (ready == FdPoller.Result.Error && errno != 0)
            {
                if (_disposed != 0) return 0;
                throw new LinkDeviceException(Name, "poll on the pcap descriptor failed", errno);
            }
            return Drain(frames);
        }

        // No selectable descriptor (Windows): poll the handle until the deadline.
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            count = Drain(frames);
            if (count > 0) return count;
            if (timeoutMilliseconds > 0 && Stopwatch.GetElapsedTime(start).TotalMilliseconds >= timeoutMilliseconds) return 0;
            Thread.Sleep(1);
        }
    }

    private int Drain(Span<FrameBuffer> frames)
    {
        int count = 0;
        while (count < frames.Length)
        {
            void* header;
            byte* data;
            int rc = _api.NextEx(_handle, &header, &data);
            if (rc == 0) break;                     // nothing more right now (non-blocking)
            if (rc < 0)
            {
                if (_disposed != 0 || rc == -2) break;
                throw new LinkDeviceException(Name, $"pcap_next_ex failed ({rc}): {Pcap.Text(_api.GetErr(_handle))}");
            }
            int captured = PcapPacketHeader.CapturedLength(header);
            int onWire = PcapPacketHeader.WireLength(header);
            var frame = frames[count];
            if (onWire < FrameLimits.MinFrameLength) { Statistics.CountDrop(DropReason.TooShort); continue; }
            if (onWire > _maxFrame || captured < onWire || captured > frame.Array.Length) { Statistics.CountDrop(DropReason.TooLong); continue; }
            new ReadOnlySpan<byte>(data, captured).CopyTo(frame.Array);
            frame.Length = captured;
            frame.TimestampNs = PcapPacketHeader.TimestampNs(header);
            Statistics.CountIn(captured);
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
            int rc;
            fixed (byte* p = frame.Array) rc = _api.SendPacket(_handle, p, length);
            if (rc == 0) { Statistics.CountOut(length); sent++; continue; }

            // libpcap leaves the send(2) errno in place; read it straight away to classify the drop.
            int errno = Marshal.GetLastSystemError();
            Statistics.CountDrop(errno switch
            {
                Libc.ENETDOWN => DropReason.InterfaceDown,
                Libc.EAGAIN or Libc.ENOBUFS => DropReason.QueueFull,
                Libc.EMSGSIZE => DropReason.TooLong,
                _ => DropReason.IoError,
            });
        }
        return sent;
    }

    private void SetFilter(nint handle, string filter)
    {
        byte[] text = Encoding.UTF8.GetBytes(filter + "\0");
        BpfProgram program;
        fixed (byte* f = text)
        {
            if (_api.Compile(handle, &program, f, 1, Pcap.NetmaskUnknown) < 0)
                throw new LinkDeviceException(Name, $"BPF filter \"{filter}\" does not compile: {Pcap.Text(_api.GetErr(handle))}");
        }
        try
        {
            if (_api.SetFilter(handle, &program) < 0)
                throw new LinkDeviceException(Name, "pcap_setfilter failed: " + Pcap.Text(_api.GetErr(handle)));
        }
        finally
        {
            _api.FreeCode(&program);
        }
    }

    private void Check(int rc, nint handle, string what)
    {
        if (rc != 0) throw new LinkDeviceException(Name, $"{what} failed ({rc}): {Pcap.Text(_api.GetErr(handle))}");
    }

    /// <summary>Closes the pcap handle. Safe to call twice.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        nint handle = Interlocked.Exchange(ref _handle, 0);
        if (handle != 0) _api.Close(handle);
    }

    /// <inheritdoc/>
    public override string ToString() => $"pcap {Name} ({MacAddress}, mtu {Mtu})";
}
