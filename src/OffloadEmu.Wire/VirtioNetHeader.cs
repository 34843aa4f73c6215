using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>virtio-net header flags (<c>VIRTIO_NET_HDR_F_*</c>).</summary>
[Flags]
public enum VirtioNetHeaderFlags : byte
{
    /// <summary>Nothing: the frame's checksums are complete (or unchecked, on receive).</summary>
    None = 0,
    /// <summary>NEEDS_CSUM: the L4 checksum is partial (the pseudo-header sum is in the field); whoever transmits the frame
    /// sums from <see cref="VirtioNetHeader.ChecksumStart"/> to the end and stores the result at
    /// <see cref="VirtioNetHeader.ChecksumStart"/> + <see cref="VirtioNetHeader.ChecksumOffset"/>.</summary>
    NeedsChecksum = 1,
    /// <summary>DATA_VALID: the sender already verified the checksums (receive side only).</summary>
    DataValid = 2,
}

/// <summary>virtio-net header GSO types (<c>VIRTIO_NET_HDR_GSO_*</c>), <see cref="Ecn"/> OR-ed onto a TCP type.</summary>
[Flags]
public enum VirtioNetGsoType : byte
{
    /// <summary>Not a super-segment.</summary>
    None = 0,
    /// <summary>A TCP/IPv4 super-segment, to be cut into <see cref="VirtioNetHeader.GsoSize"/>-byte payloads.</summary>
    TcpV4 = 1,
    /// <summary>A UDP (UFO) super-datagram; not produced or accepted here.</summary>
    Udp = 3,
    /// <summary>A TCP/IPv6 super-segment.</summary>
    TcpV6 = 4,
    /// <summary>A UDP GSO (USO) super-datagram; not produced or accepted here.</summary>
    UdpL4 = 5,
    /// <summary>The super-segment carries CWR (TCP ECN): it goes on the first segment only.</summary>
    Ecn = 0x80,
}

/// <summary>
/// The virtio-net header (<c>struct virtio_net_hdr</c>, virtio 1.x §5.1.6) that a Linux TAP opened with IFF_VNET_HDR puts
/// in front of every frame: 10 bytes, little-endian (we set TUNSETVNETLE), no <c>num_buffers</c> (TUNSETVNETHDRSZ 10).
/// </summary>
/// <remarks>
/// <para>Layout: flags (1), gso_type (1), hdr_len (2), gso_size (2), csum_start (2), csum_offset (2).</para>
/// <para>A value type read and written in place: nothing allocates. <see cref="Validate"/> says whether a header read from
/// the kernel describes the frame it came with; devices count what fails it as a drop.</para>
/// </remarks>
public readonly record struct VirtioNetHeader
{
    /// <summary>Size of the header without <c>num_buffers</c> (what we ask for with TUNSETVNETHDRSZ).</summary>
    public const int Length = 10;

    /// <summary>Size with the 2-byte <c>num_buffers</c> of mergeable receive buffers (not used here).</summary>
    public const int MergeableLength = 12;

    /// <summary>Offset of the TCP checksum field from the start of the TCP header (for <see cref="ChecksumOffset"/>).</summary>
    public const ushort TcpChecksumOffset = 16;

    /// <summary>No offload: every checksum complete, not a super-segment.</summary>
    public static VirtioNetHeader None => default;

    /// <summary>Flags (NEEDS_CSUM, DATA_VALID).</summary>
    public VirtioNetHeaderFlags Flags { get; init; }

    /// <summary>GSO type, <see cref="VirtioNetGsoType.Ecn"/> included.</summary>
    public VirtioNetGsoType GsoType { get; init; }

    /// <summary>hdr_len: bytes of headers (Ethernet to the end of TCP) in front of the payload; a hint, may be 0.</summary>
    public ushort HeaderLength { get; init; }

    /// <summary>gso_size: the payload bytes of each segment the super-segment is cut into (the MSS).</summary>
    public ushort GsoSize { get; init; }

    /// <summary>csum_start: offset from the start of the Ethernet frame where the checksummed range begins.</summary>
    public ushort ChecksumStart { get; init; }

    /// <summary>csum_offset: offset from <see cref="ChecksumStart"/> of the checksum field.</summary>
    public ushort ChecksumOffset { get; init; }

    /// <summary>The GSO type without the ECN bit.</summary>
    public VirtioNetGsoType GsoProtocol => GsoType & ~VirtioNetGsoType.Ecn;

    /// <summary>A super-segment (any GSO type).</summary>
    public bool IsGso => GsoProtocol != VirtioNetGsoType.None;

    /// <summary>The L4 checksum is partial (NEEDS_CSUM).</summary>
    public bool ChecksumPartial => (Flags & VirtioNetHeaderFlags.NeedsChecksum) != 0;

    /// <summary>The checksums were verified by the sender (DATA_VALID).</summary>
    public bool DataValid => (Flags & VirtioNetHeaderFlags.DataValid) != 0;

    /// <summary>Reads a header from the first <see cref="Length"/> bytes of <paramref name="source"/>.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out VirtioNetHeader header)
    {
        if (source.Length < Length)
        {
            header = default;
            return false;
        }
        header = new VirtioNetHeader
        {
            Flags = (VirtioNetHeaderFlags)source[0],
            GsoType = (VirtioNetGsoType)source[1],
            HeaderLength = BinaryPrimitives.ReadUInt16LittleEndian(source[2..]),
            GsoSize = BinaryPrimitives.ReadUInt16LittleEndian(source[4..]),
            ChecksumStart = BinaryPrimitives.ReadUInt16LittleEndian(source[6..]),
            ChecksumOffset = BinaryPrimitives.ReadUInt16LittleEndian(source[8..]),
        };
        return true;
    }

    /// <summary>Writes the header into the first <see cref="Length"/> bytes of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="Length"/>.</exception>
    public void Write(Span<byte> destination)
    {
        if (destination.Length < Length) ThrowHelper.BufferTooSmall(Length, destination.Length);
        destination[0] = (byte)Flags;
        destination[1] = (byte)GsoType;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], HeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], ChecksumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], ChecksumOffset);
    }

    /// <summary>
    /// Whether this header (read from a device) fits the <paramref name="frameLength"/>-byte frame it came with: only flag
    /// bits we know, only no GSO or TCP GSO (ECN allowed) with a non-zero gso_size, a checksum field (csum_start +
    /// csum_offset + 2) inside the frame when NEEDS_CSUM, and hdr_len no longer than the frame.
    /// </summary>
    public WireError Validate(int frameLength)
    {
        if (((byte)Flags & ~(byte)(VirtioNetHeaderFlags.NeedsChecksum | VirtioNetHeaderFlags.DataValid)) != 0) return WireError.Unsupported;
        var protocol = GsoProtocol;
        if (protocol != VirtioNetGsoType.None)
        {
            if (protocol is not (VirtioNetGsoType.TcpV4 or VirtioNetGsoType.TcpV6)) return WireError.Unsupported;
            if (GsoSize == 0) return WireError.BadLength;
        }
        else if ((GsoType & VirtioNetGsoType.Ecn) != 0)
        {
            return WireError.Unsupported;
        }
        if (HeaderLength > frameLength) return WireError.BadHeaderLength;
        if (ChecksumPartial && ChecksumStart + ChecksumOffset + 2 > frameLength) return WireError.BadHeaderLength;
        return WireError.None;
    }

    /// <summary>A diagnostic rendering, e.g. "gso tcpv4 size 1448 hdr 66, csum partial 34+16".</summary>
    public override string ToString()
    {
        string gso = IsGso ? $"gso {GsoProtocol.ToString().ToLowerInvariant()}{((GsoType & VirtioNetGsoType.Ecn) != 0 ? "+ecn" : "")} size {GsoSize} hdr {HeaderLength}" : "no gso";
        string csum = ChecksumPartial ? $"csum partial {ChecksumStart}+{ChecksumOffset}" : DataValid ? "csum valid" : "csum complete";
        return $"{gso}, {csum}";
    }
}
