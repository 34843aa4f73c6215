using System.Buffers;

namespace OffloadEmu.Control.Protocol;

/// <summary>
/// Joins the pieces of one fragmented message (<see cref="FragmentMessage"/>) on the receive loop, and rejects every
/// broken sequence with a protocol error naming what broke: an inner type that may not be fragmented, a whole length
/// above <see cref="ControlProtocol.MaxFragmentedMessageSize"/>, a piece out of order, of another message, empty or past
/// the end, or any other message arriving before the last piece. The reassembled payload lives in one pooled array
/// until <see cref="Release"/>; the caller decodes it in between (decoding copies what it keeps).
/// </summary>
internal sealed class FragmentAssembler(Func<MessageType, bool> allowed)
{
    private byte[]? _buffer;
    private MessageType _inner;
    private ulong _requestId;
    private int _total;
    private int _received;
    private bool _wholeOut;

    /// <summary>A message has begun and not all its pieces arrived.</summary>
    public bool InProgress => _buffer is not null && !_wholeOut;

    /// <summary>Every message that is not a fragment: throws when it interrupts a fragmented one.</summary>
    public void CheckNotInterrupted(MessageType type)
    {
        if (InProgress)
            throw MessageReader.Malformed($"fragmented {_inner} (request {_requestId}) interrupted by {type} after {_received} of {_total} bytes");
    }

    /// <summary>Adds one piece; true when the message is whole (<paramref name="inner"/> and <paramref name="payload"/>
    /// are then set and valid until <see cref="Release"/>).</summary>
    public bool Add(ulong requestId, ReadOnlySequence<byte> fragment, out MessageType inner, out ReadOnlySequence<byte> payload)
    {
        inner = default;
        payload = default;
        var r = new MessageReader(fragment);
        var (type, total, offset, length) = FragmentMessage.ReadHeader(ref r);
        if (length == 0) throw MessageReader.Malformed("empty fragment");
        if (_buffer is null)
        {
            if (!allowed(type)) throw MessageReader.Malformed($"message type {(ushort)type} cannot be fragmented");
            if (total > ControlProtocol.MaxFragmentedMessageSize)
                throw new ControlProtocolException(ProtocolError.Oversized, $"fragmented {type} of {total} bytes above the limit of {ControlProtocol.MaxFragmentedMessageSize}");
            if (offset != 0) throw MessageReader.Malformed($"fragmented {type} (request {requestId}) starts at offset {offset}, not 0");
            _buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(total, 1));
            _inner = type;
            _requestId = requestId;
            _total = (int)total;
            _received = 0;
        }
        else if (type != _inner || requestId != _requestId || total != (uint)_total || offset != (uint)_received)
        {
            throw MessageReader.Malformed($"fragment of {type} (request {requestId}) at {offset} of {total} where fragmented {_inner} (request {_requestId}) expected its piece at {_received} of {_total}");
        }
        if (length > _total - _received) throw MessageReader.Malformed($"fragmented {_inner} (request {_requestId}) runs past its length of {_total} bytes");
        r.Raw(_buffer.AsSpan(_received, length));
        _received += length;
        if (_received < _total) return false;
        inner = _inner;
        payload = new ReadOnlySequence<byte>(_buffer, 0, _total);
        _wholeOut = true;
        return true;
    }

    /// <summary>Gives the array back after the whole message was handled (or the connection ended mid-sequence).</summary>
    public void Release()
    {
        if (_buffer is { } buffer) ArrayPool<byte>.Shared.Return(buffer);
        _buffer = null;
        _wholeOut = false;
        _received = 0;
        _total = 0;
    }
}
