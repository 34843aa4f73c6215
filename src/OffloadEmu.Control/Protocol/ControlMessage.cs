using System.Buffers;
using System.Buffers.Binary;

namespace OffloadEmu.Control.Protocol;

/// <summary>One control message: a header (type, request id) and a typed payload (docs/control.md).</summary>
internal abstract class ControlMessage
{
    public abstract MessageType Type { get; }

    /// <summary>The request id: chosen by the client for a request, echoed by its reply or completion; 0 for
    /// unsolicited messages.</summary>
    public ulong RequestId { get; set; }

    /// <summary>Writes (or counts) the payload.</summary>
    public abstract void WritePayload(ref MessageWriter w);

    /// <summary>The payload's length, counted without writing it.</summary>
    public long PayloadLength()
    {
        var counter = new MessageWriter();
        WritePayload(ref counter);
        return counter.Length;
    }

    /// <summary>Encodes header and payload into <paramref name="output"/>; returns the bytes written.</summary>
    public long WriteTo(IBufferWriter<byte> output) => WriteTo(output, PayloadLength());

    /// <summary>Encodes header and payload whose length <paramref name="counted"/> was just counted by
    /// <see cref="PayloadLength"/>; returns the bytes written.</summary>
    public long WriteTo(IBufferWriter<byte> output, long counted)
    {
        if (counted > uint.MaxValue) throw new InvalidOperationException("Message too large.");
        var header = output.GetSpan(ControlProtocol.HeaderSize);
        WriteHeader(header, (uint)counted, Type, RequestId);
        output.Advance(ControlProtocol.HeaderSize);
        var writer = new MessageWriter(output);
        WritePayload(ref writer);
        writer.Flush();
        // The header already went out with the counted length: a payload of another length would desynchronise the
        // stream (the peer sees trailing bytes or a truncated message). It happens only when the objects encoded change
        // between the two passes, a bug of the caller; say which message rather than leave a corrupt stream unexplained.
        if (writer.Length != counted) ThrowChangedWhileEncoding(Type, counted, writer.Length);
        return ControlProtocol.HeaderSize + counted;
    }

    /// <summary>Writes the payload alone into the first <paramref name="counted"/> bytes of <paramref name="destination"/>
    /// (a message sent in fragments); <paramref name="counted"/> is what <see cref="PayloadLength"/> just gave.</summary>
    public void WritePayloadTo(byte[] destination, long counted)
    {
        var output = new ArrayPrefixWriter(destination, (int)counted);
        var writer = new MessageWriter(output);
        WritePayload(ref writer);
        writer.Flush();
        if (writer.Length != counted) ThrowChangedWhileEncoding(Type, counted, writer.Length);
    }

    // An IBufferWriter over an array's prefix (the fragmented path only: one small object per such message).
    private sealed class ArrayPrefixWriter(byte[] array, int length) : IBufferWriter<byte>
    {
        private int _written;

        public void Advance(int count) => _written += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => array.AsMemory(_written, Room());

        public Span<byte> GetSpan(int sizeHint = 0) => array.AsSpan(_written, Room());

        // More than counted means the objects changed between the passes: the length check after says so.
        private int Room() => _written < length ? length - _written : throw new InvalidOperationException("payload longer than counted");
    }

    private static void ThrowChangedWhileEncoding(MessageType type, long counted, long written)
        => throw new InvalidOperationException($"{type} changed while it was encoded ({counted} bytes counted, {written} written): its objects were modified concurrently.");

    /// <summary>Encodes into a new array (tests and the fuzzer).</summary>
    public byte[] ToArray()
    {
        var buffer = new ArrayBufferWriter<byte>();
        WriteTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    public static void WriteHeader(Span<byte> header, uint payloadLength, MessageType type, ulong requestId)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, payloadLength);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], (ushort)type);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], requestId);
    }

    /// <summary>
    /// Takes one whole message off the front of <paramref name="buffer"/> if it holds one. An oversized length or a
    /// non-zero reserved field throws at once (before the payload arrives), so a peer cannot make us buffer without bound.
    /// </summary>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, int maxMessageSize, out MessageType type, out ulong requestId,
        out ReadOnlySequence<byte> payload)
    {
        type = default;
        requestId = 0;
        payload = default;
        if (buffer.Length < ControlProtocol.HeaderSize) return false;
        Span<byte> header = stackalloc byte[ControlProtocol.HeaderSize];
        buffer.Slice(0, ControlProtocol.HeaderSize).CopyTo(header);
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (length > (uint)maxMessageSize)
            throw new ControlProtocolException(ProtocolError.Oversized, $"message of {length} bytes above the limit of {maxMessageSize}");
        if (BinaryPrimitives.ReadUInt16LittleEndian(header[6..]) != 0)
            throw new ControlProtocolException(ProtocolError.Malformed, "reserved header field is not zero");
        if (buffer.Length < ControlProtocol.HeaderSize + length) return false;
        type = (MessageType)BinaryPrimitives.ReadUInt16LittleEndian(header[4..]);
        requestId = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        payload = buffer.Slice(ControlProtocol.HeaderSize, length);
        buffer = buffer.Slice(ControlProtocol.HeaderSize + length);
        return true;
    }

    /// <summary>Decodes a payload; throws <see cref="ControlProtocolException"/> for an unknown type or a bad payload.
    /// NBL bytes are copied into pooled arrays; frame and indication bytes too (the caller releases them).</summary>
    public static ControlMessage Decode(MessageType type, ulong requestId, ReadOnlySequence<byte> payload)
    {
        var r = new MessageReader(payload);
        ControlMessage message = type switch
        {
            MessageType.Hello => HelloMessage.Read(ref r),
            MessageType.SetParameters => SetParametersMessage.Read(ref r),
            MessageType.QueryStatistics => new QueryStatisticsMessage { Ipv6 = r.Bool() },
            MessageType.ResetStatistics => new ResetStatisticsMessage { Ipv6 = r.Bool() },
            MessageType.SendFrame => new FrameMessage(MessageType.SendFrame) { Frame = r.Pooled(ControlProtocol.DefaultMaxMessageSize) },
            MessageType.InitiateOffload or MessageType.TerminateOffload or MessageType.UpdateOffload or MessageType.InvalidateOffload
                or MessageType.QueryOffloadState => new StateRequestMessage(type) { Root = WireCodec.ReadTree(ref r, NblMode.Data) },
            MessageType.TcpSend or MessageType.TcpReceive or MessageType.TcpForward => IoRequestMessage.Read(type, ref r),
            MessageType.TcpDisconnect => IoRequestMessage.Read(type, ref r),
            MessageType.ReceiveConsumed => new ReceiveConsumedMessage { Context = r.U64(), Bytes = r.U32() },
            MessageType.HelloReply => HelloReplyMessage.Read(ref r),
            MessageType.Error => new ErrorMessage { Code = (ProtocolError)r.U16(), Text = r.String(4096) },
            MessageType.StatusReply => new StatusReplyMessage { Status = WireCodec.Status(ref r) },
            MessageType.StatisticsReply => new StatisticsReplyMessage { Tcp = WireCodec.TcpStatistics(ref r), Ip = WireCodec.IpStatistics(ref r) },
            MessageType.StateComplete => StateCompleteMessage.Read(ref r),
            MessageType.TcpSendComplete or MessageType.TcpForwardComplete or MessageType.TcpDisconnectComplete
                => new IoCompleteMessage(type) { Nbls = WireCodec.ReadRefs(ref r) },
            MessageType.TcpReceiveComplete => ReceiveCompleteMessage.Read(ref r),
            MessageType.ReceiveIndicate => new ReceiveIndicateMessage { Handle = r.U64(), Data = r.Pooled(ControlProtocol.DefaultMaxMessageSize) },
            MessageType.TcpEvent => TcpEventMessage.Read(ref r),
            MessageType.NeighborEvent => NeighborEventMessage.Read(ref r),
            MessageType.AdapterStatus => new AdapterStatusMessage { Status = WireCodec.Status(ref r), Capabilities = WireCodec.Capabilities(ref r) },
            MessageType.ReceiveFrame => new FrameMessage(MessageType.ReceiveFrame) { Frame = r.Pooled(ControlProtocol.DefaultMaxMessageSize) },
            MessageType.QueryParameters => new QueryParametersMessage(),
            MessageType.ParametersReply => ParametersReplyMessage.Read(ref r),
            MessageType.QueryStatus => QueryStatusMessage.Read(ref r),
            MessageType.StatusInfo => StatusInfoMessage.Read(ref r),
            MessageType.Fragment or MessageType.ServerFragment => FragmentMessage.Read(type, ref r),
            _ => throw new ControlProtocolException(ProtocolError.UnknownType, $"unknown message type {(ushort)type}"),
        };
        try
        {
            r.End();
        }
        catch
        {
            message.Release();
            throw;
        }
        message.RequestId = requestId;
        return message;
    }

    /// <summary>Gives back pooled arrays the decoded message holds (NBL bytes); idempotent.</summary>
    public virtual void Release()
    {
    }

    /// <summary>True for types a client may send.</summary>
    public static bool IsClientToServer(MessageType type) => (ushort)type is >= 1 and < 64;
}
