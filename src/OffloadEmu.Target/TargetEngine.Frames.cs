using System.Buffers.Binary;
using OffloadEmu.Chimney.State;
using OffloadEmu.Link;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Target;

internal sealed partial class TargetEngine
{
    /// <summary>
    /// Receive demultiplexing: a frame for an offloaded connection is processed here; everything else (ARP, ICMP, IP
    /// fragments, IPv4 options, other TCP, malformed frames) goes up to the host unchanged (spec §6.2, §6.5).
    /// </summary>
    public void ProcessFrame(Span<byte> frame, Instant now) => ProcessFrame(frame, now, default);

    /// <summary>As <see cref="ProcessFrame(Span{byte}, Instant)"/> with the device's offload metadata of the frame.</summary>
    public void ProcessFrame(FrameBuffer frame, Instant now) => ProcessFrame(frame.Span, now, SegmentationOffload ? frame.Offload : default);

    // The offload metadata of the frame being processed (PassUp and Hold complete a partial checksum for the host).
    private VirtioNetHeader _rxOffload;

    private void ProcessFrame(Span<byte> frame, Instant now, VirtioNetHeader offload)
    {
        _rxOffload = offload;
        try
        {
            Demultiplex(frame, now);
        }
        finally
        {
            _rxOffload = default;
        }
    }

    /// <summary>Completes a partial checksum (virtio-net NEEDS_CSUM) in place: the sum from csum_start to the end, stored
    /// at csum_start + csum_offset (the field holds the pseudo-header sum, so it is part of the sum).</summary>
    internal static void CompletePartialChecksum(Span<byte> frame, in VirtioNetHeader offload)
    {
        int start = offload.ChecksumStart, field = start + offload.ChecksumOffset;
        if (field + 2 > frame.Length) return; // the device validated this; defensive only
        ushort value = InternetChecksum.Finish(InternetChecksum.Accumulate(frame[start..]));
        BinaryPrimitives.WriteUInt16BigEndian(frame[field..], value);
    }

    private void Demultiplex(Span<byte> frame, Instant now)
    {
        Volatile.Write(ref FramesIn, FramesIn + 1);   // one writer: the loop's thread
        if (!EthernetFrame.TryCreate(frame, out var ethernet))
        {
            PassUp(frame);
            return;
        }
        VlanTag? tag = ethernet.VlanTag;
        var etherType = ethernet.EtherType;
        var l3 = ethernet.Payload;
        if (etherType == EtherType.Ipv4 && _connections.Count > 0)
        {
            bool parsed = Ipv4Packet.TryCreate(l3, out var ip);
            if (!parsed || ip.IsFragment || ip.HasOptions || ip.Protocol != IpProtocol.Tcp || !ip.VerifyChecksum())
            {
                // A header that did not parse has no fields to read (a default packet over an empty buffer).
                if (parsed && ip.IsFragment && _fragmentPolicy) NoteFragmentFrom(ip.Source);
                PassUp(frame);
                return;
            }
            var key = new ConnectionKey(ip.Source, ip.Destination, 0, 0);
            ProcessTcp(frame, ip.Payload, key, ip.TotalLength, tag, false, now);
            return;
        }
        if (etherType == EtherType.Ipv6 && _connections.Count > 0)
        {
            if (!Ipv6Packet.TryCreate(l3, out var ip) || ip.HasFragmentHeader || ip.UpperLayerProtocol != IpProtocol.Tcp
                || (ip.ExtensionHeadersLength > 0 && !Capabilities.SupportIPv6ExtensionHeaders))
            {
                PassUp(frame);
                return;
            }
            var key = new ConnectionKey(ip.Source, ip.Destination, 0, 0);
            ProcessTcp(frame, ip.UpperLayerPayload, key, Ipv6Packet.HeaderLength + ip.PayloadLength, tag, true, now);
            return;
        }
        PassUp(frame);
    }

    private void ProcessTcp(Span<byte> frame, Span<byte> tcp, ConnectionKey addresses, int ipLength, VlanTag? tag, bool ipv6, Instant now)
    {
        if (!TcpSegment.TryCreate(tcp, out var segment))
        {
            PassUp(frame); // spec §6.5: a bad TCP header goes up (preferred, uncounted)
            return;
        }
        var key = addresses with { RemotePort = segment.SourcePort, LocalPort = segment.DestinationPort };
        if (!_connections.TryGetValue(key, out var c) || c.Machine.State == TcpState.Closed && !c.AbortRequested)
        {
            PassUp(frame); // not offloaded, or CLOSED: data on a closed connection goes up (spec §6.2)
            return;
        }
        // VLAN filtering (spec §6.5): VlanId 0 accepts any tag; otherwise only that id.
        ushort vlan = c.Path.Neighbor.Const.VlanId;
        if (vlan != 0 && (tag is not { } t || t.Id != vlan))
        {
            PassUp(frame);
            return;
        }
        if (c.Terminating is not null)
        {
            // Held on the connection (its loop's own state); the coordinator puts them in the operation's list when the
            // connection is done, after the ones held before the terminate.
            if (c.UrgentHold) Hold(c, c.HeldFrames, frame);
            else PassUp(frame); // spec §6.5: during terminate arrivals are not processed but passed up
            return;
        }
        if (c.UrgentHold)
        {
            Hold(c, c.HeldFrames, frame);
            return;
        }
        if (c.AbortSent || c.AbortRequested || c.HardwareFailed)
        {
            Interlocked.Increment(ref FramesDroppedAfterAbort); // input stopped; nothing is ACKed (spec §6.1)
            return;
        }
        var stats = Stats(ipv6);
        var offload = _rxOffload;
        if (offload.ChecksumPartial || offload.DataValid)
        {
            // Segmentation offload: the kernel handed over a partial checksum (its TCP left it to the "hardware") or one it
            // verified; a NIC with receive checksum offload would not check it either. Counted, not verified.
            ChecksumsTrusted++;
        }
        else if (!segment.VerifyChecksum(c.Machine.Addresses.PseudoHeaderBase + (ulong)(uint)tcp.Length))
        {
            stats.Tcp.AddInErrors();
            return; // counted drop; a bad checksum is not counted as a received segment (spec §10 row 58)
        }
        var flags = segment.Flags;
        var m = c.Machine;
        var seq = segment.SequenceNumber;
        // Spec §6.5 URG: validate (in window), then ask for upload, stop ACKing, hold it and everything after it.
        if ((flags & TcpFlags.Urg) != 0 && (flags & TcpFlags.Rst) == 0 && InReceiveWindow(m, seq))
        {
            CountReceived(stats, ipLength, segment.Payload.Length);
            c.UrgentHold = true;
            Hold(c, c.HeldFrames, frame);
            c.RequestRetrieve(Chimney.TcpUploadReason.ReceivedUrgentData);
            c.MarkDirty();
            return;
        }
        // Spec §6.5 SYN: exactly at RcvNxt -> upload, the connection ends CLOSED. Others: the machine's RFC 5961 rules.
        if ((flags & TcpFlags.Syn) != 0 && (flags & TcpFlags.Rst) == 0 && seq == m.RcvNxt)
        {
            CountReceived(stats, ipLength, segment.Payload.Length);
            c.ClosedByUpload = true;
            c.UrgentHold = true; // stop processing: the host takes the connection back
            Hold(c, c.HeldFrames, frame);
            c.RequestRetrieve(Chimney.TcpUploadReason.UploadRequested);
            c.MarkDirty();
            return;
        }
        var sndUna = m.SndUna;
        var rcvNxt = m.RcvNxt;
        if ((flags & TcpFlags.Psh) != 0 && segment.Payload.Length > 0) c.NotePush();
        c.SetNow(now);
        // A header the machine cannot parse (an illegal option length, RFC 9293 MUST-7) is a counted drop (spec §6.5),
        // like a bad checksum: in InErrors, not in the received counters.
        if (!m.ProcessSegment(tcp, now, checksumTrusted: offload.ChecksumPartial || offload.DataValid))
        {
            stats.Tcp.AddInErrors();
            return;
        }
        CountReceived(stats, ipLength, segment.Payload.Length);
        if (m.SndUna != sndUna || m.RcvNxt != rcvNxt)
        {
            c.Path.Neighbor.Nrt = NicTicks(now); // forward progress (spec §6.4)
            c.NoteActivity(now); // data or an ACK of ours: not a keepalive exchange (LowActivity policy)
        }
        if (m.OutOfOrderRanges >= Options.HighOutOfOrderThreshold) c.SuggestUpload(Chimney.TcpUploadReason.HighOutOfOrderPackets);
        // An ACK owed now goes now (spec §10 row 25: every TcpAckFrequency segments), not once per receive batch.
        if (m.AckDue) c.Service(now);
        c.MarkDirty();
    }

    /// <summary>Per connection, the most frame bytes held for the host after urgent data or a SYN at RcvNxt (spec §6.5)
    /// until it terminates the connection: a peer flooding a connection the host is slow to take back cannot grow the
    /// target's memory past this. More is a counted drop (<see cref="DroppedFrames"/>); the host's TCP recovers it as a
    /// loss after the upload.</summary>
    public const long MaxHeldFrameBytes = 256 * 1024;

    private void Hold(TcpConnection c, List<byte[]> held, Span<byte> frame)
    {
        if (c.HeldFrameBytes + frame.Length > MaxHeldFrameBytes)
        {
            Interlocked.Increment(ref DroppedFrames);
            return;
        }
        c.HeldFrameBytes += frame.Length;
        var copy = frame.ToArray(); // a slow path: only after urgent data or a SYN, until the terminate
        if (_rxOffload.ChecksumPartial) CompletePartialChecksum(copy, _rxOffload);
        held.Add(copy);
    }

    private void CountReceived(FamilyStatistics stats, int ipLength, int payload)
    {
        var offload = _rxOffload;
        if (offload.IsGso && payload > offload.GsoSize)
        {
            // A super-frame stands for the segments the sender's kernel did not cut: count those, each with its headers.
            int headers = ipLength - payload;
            int segments = (payload + offload.GsoSize - 1) / offload.GsoSize;
            SuperFramesIn++;
            stats.Ip.AddReceived((ulong)(ipLength + (segments - 1) * headers), (ulong)segments);
            stats.Ip.AddInDelivers((ulong)segments);
            stats.Tcp.AddInSegments((ulong)segments);
            return;
        }
        stats.Ip.AddReceived((ulong)ipLength);
        stats.Ip.AddInDelivers(); // IP-MIB: every datagram handed to the offloaded TCP, whatever TCP then does with it
        stats.Tcp.AddInSegments();
    }

    private static bool InReceiveWindow(TcpMachine m, SeqNumber seq)
    {
        uint window = Math.Max(m.RcvWnd, 1u);
        return seq >= m.RcvNxt && seq < m.RcvNxt + (int)Math.Min(window, int.MaxValue);
    }

    // HighFragmentation policy: fragments go up (the host reassembles and forwards); count them against the connections
    // to their source. A slow path (fragments are rare), so a scan of the connections is fine.
    private void NoteFragmentFrom(Ipv4Address source)
    {
        foreach (var c in _connections.Values)
            if (!c.IsIpv6 && c.Key.Remote == source) c.NoteFragment();
    }
}
