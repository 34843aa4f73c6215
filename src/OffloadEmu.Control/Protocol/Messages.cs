using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

// The message types of docs/control.md. Kept in one file: each is a handful of fields and its encoding.

internal sealed class HelloMessage : ControlMessage
{
    public override MessageType Type => MessageType.Hello;
    public uint Magic { get; init; } = ControlProtocol.Magic;
    public ushort Version { get; init; } = ControlProtocol.Version;
    public string ClientName { get; init; } = "";

    public override void WritePayload(ref MessageWriter w)
    {
        w.U32(Magic);
        w.U16(Version);
        w.String(ClientName);
    }

    public static HelloMessage Read(ref MessageReader r)
        => new() { Magic = r.U32(), Version = r.U16(), ClientName = r.String(ControlProtocol.MaxNameBytes) };
}

internal sealed class HelloReplyMessage : ControlMessage
{
    public override MessageType Type => MessageType.HelloReply;
    public ushort Version { get; init; } = ControlProtocol.Version;
    public required TcpConnectionOffloadCapabilities Current { get; init; }
    public required TcpConnectionOffloadCapabilities Hardware { get; init; }
    public MacAddress MacAddress { get; init; }
    public int Mtu { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U16(Version);
        WireCodec.Capabilities(ref w, Current);
        WireCodec.Capabilities(ref w, Hardware);
        WireCodec.Mac(ref w, MacAddress);
        w.I32(Mtu);
    }

    public static HelloReplyMessage Read(ref MessageReader r) => new()
    {
        Version = r.U16(), Current = WireCodec.Capabilities(ref r), Hardware = WireCodec.Capabilities(ref r),
        MacAddress = WireCodec.Mac(ref r), Mtu = r.I32(),
    };
}

internal sealed class ErrorMessage : ControlMessage
{
    public override MessageType Type => MessageType.Error;
    public ProtocolError Code { get; init; }
    public string Text { get; init; } = "";

    public override void WritePayload(ref MessageWriter w)
    {
        w.U16((ushort)Code);
        w.String(Text.Length > 1000 ? Text[..1000] : Text);
    }
}

internal sealed class SetParametersMessage : ControlMessage
{
    public override MessageType Type => MessageType.SetParameters;
    public required OffloadParameters Parameters { get; init; }

    public override void WritePayload(ref MessageWriter w) => WireCodec.Parameters(ref w, Parameters);

    public static SetParametersMessage Read(ref MessageReader r) => new() { Parameters = WireCodec.Parameters(ref r) };
}

internal sealed class QueryStatisticsMessage : ControlMessage
{
    public override MessageType Type => MessageType.QueryStatistics;
    public bool Ipv6 { get; init; }

    public override void WritePayload(ref MessageWriter w) => w.Bool(Ipv6);
}

internal sealed class ResetStatisticsMessage : ControlMessage
{
    public override MessageType Type => MessageType.ResetStatistics;
    public bool Ipv6 { get; init; }

    public override void WritePayload(ref MessageWriter w) => w.Bool(Ipv6);
}

internal sealed class StatusReplyMessage : ControlMessage
{
    public override MessageType Type => MessageType.StatusReply;
    public NdisStatus Status { get; init; }

    public override void WritePayload(ref MessageWriter w) => w.U32((uint)Status);
}

internal sealed class StatisticsReplyMessage : ControlMessage
{
    public override MessageType Type => MessageType.StatisticsReply;
    public TcpOffloadStatisticsSnapshot Tcp { get; init; }
    public IpOffloadStatisticsSnapshot Ip { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        WireCodec.TcpStatistics(ref w, Tcp);
        WireCodec.IpStatistics(ref w, Ip);
    }
}

/// <summary>SendFrame (client to server) and ReceiveFrame (server to client): one Ethernet frame.</summary>
internal sealed class FrameMessage(MessageType type) : ControlMessage
{
    public override MessageType Type { get; } = type;

    /// <summary>The frame when decoded (pooled; released with <see cref="Release"/>).</summary>
    public PooledBytes? Frame { get; init; }

    /// <summary>The frame to encode when it is not pooled.</summary>
    public ReadOnlyMemory<byte> Bytes { get; init; }

    public ReadOnlySpan<byte> Span => Frame is { } f ? f.Span : Bytes.Span;

    public override void WritePayload(ref MessageWriter w) => w.Blob(Span);

    public override void Release() => Frame?.Release();
}

/// <summary>A state operation (initiate, terminate, update, invalidate, query) with its tree.</summary>
internal sealed class StateRequestMessage(MessageType type) : ControlMessage
{
    public override MessageType Type { get; } = type;
    public required OffloadBlock Root { get; init; }

    /// <summary>Client side: the wire id of each NBL (outstanding sends); null = <see cref="NetBufferList.RequestId"/>.</summary>
    public Func<NetBufferList, ulong>? Ids { get; init; }

    public override void WritePayload(ref MessageWriter w) => WireCodec.Tree(ref w, Root, NblMode.Data, Ids);

    public override void Release() => WireCodec.ReleaseTree(Root);

    public StateOperation Operation => Type switch
    {
        MessageType.InitiateOffload => StateOperation.Initiate,
        MessageType.TerminateOffload => StateOperation.Terminate,
        MessageType.UpdateOffload => StateOperation.Update,
        MessageType.InvalidateOffload => StateOperation.Invalidate,
        _ => StateOperation.Query,
    };
}

/// <summary>The completion of a state operation: the tree as the target completed it, in the request's traversal
/// order; returned send NBLs by reference, BufferedData with its bytes.</summary>
internal sealed class StateCompleteMessage : ControlMessage
{
    public override MessageType Type => MessageType.StateComplete;
    public StateOperation Operation { get; init; }
    public required OffloadBlock Root { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U8((byte)Operation);
        WireCodec.Tree(ref w, Root, NblMode.Ref);
    }

    public static StateCompleteMessage Read(ref MessageReader r)
    {
        byte op = r.U8();
        if (op > (byte)StateOperation.Query) throw MessageReader.Malformed($"operation {op}");
        return new StateCompleteMessage { Operation = (StateOperation)op, Root = WireCodec.ReadTree(ref r, NblMode.Ref) };
    }

    public override void Release() => WireCodec.ReleaseTree(Root);
}

/// <summary>TcpSend / TcpReceive / TcpForward (a chain) and TcpDisconnect (one NBL and flags) on a context.</summary>
internal sealed class IoRequestMessage(MessageType type) : ControlMessage
{
    public override MessageType Type { get; } = type;
    public ulong Context { get; init; }
    public TcpDisconnectFlags Flags { get; init; }
    public required NetBufferList Chain { get; init; }

    /// <summary>Client side: the wire id of each NBL; null = <see cref="NetBufferList.RequestId"/>.</summary>
    public Func<NetBufferList, ulong>? Ids { get; init; }

    private NblMode Mode => Type == MessageType.TcpReceive ? NblMode.Post : NblMode.Data;

    public override void WritePayload(ref MessageWriter w)
    {
        w.U64(Context);
        if (Type == MessageType.TcpDisconnect)
        {
            w.U32((uint)Flags);
            WireCodec.Nbl(ref w, Chain, NblMode.Data, Ids);
        }
        else
        {
            WireCodec.Chain(ref w, Chain, Mode, Ids);
        }
    }

    public static IoRequestMessage Read(MessageType type, ref MessageReader r)
    {
        ulong context = r.U64();
        if (type == MessageType.TcpDisconnect)
        {
            uint flags = r.U32();
            if (flags is not (1 or 2)) throw MessageReader.Malformed($"disconnect flags {flags}");
            return new IoRequestMessage(type) { Context = context, Flags = (TcpDisconnectFlags)flags, Chain = WireCodec.ReadNbl(ref r, NblMode.Data) };
        }
        var chain = WireCodec.ReadChain(ref r, type == MessageType.TcpReceive ? NblMode.Post : NblMode.Data)
            ?? throw MessageReader.Malformed("empty chain");
        return new IoRequestMessage(type) { Context = context, Chain = chain };
    }

    public override void Release() => WireCodec.ReleaseChain(Chain);
}

internal sealed class ReceiveConsumedMessage : ControlMessage
{
    public override MessageType Type => MessageType.ReceiveConsumed;
    public ulong Context { get; init; }
    public uint Bytes { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U64(Context);
        w.U32(Bytes);
    }
}

/// <summary>Send, forward and disconnect completions: the client's NBLs by id with status, byte count and windows.</summary>
internal sealed class IoCompleteMessage(MessageType type) : ControlMessage
{
    public override MessageType Type { get; } = type;
    public required List<NblRef> Nbls { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U32((uint)Nbls.Count);
        foreach (var n in Nbls) WireCodec.Ref(ref w, n);
    }
}

/// <summary>One completed receive post: the client's NBL id, its connection, status and the bytes placed.</summary>
internal sealed class ReceiveCompletion
{
    public ulong Context { get; init; }
    public ulong Id { get; init; }
    public NdisStatus Status { get; init; }
    public required PooledBytes Data { get; init; }
}

internal sealed class ReceiveCompleteMessage : ControlMessage
{
    public override MessageType Type => MessageType.TcpReceiveComplete;

    /// <summary>Encoding side: the server's completed posts (bytes written from them directly).</summary>
    public IReadOnlyList<(ulong Context, NetBufferList Nbl)>? Source { get; init; }

    /// <summary>Decoding side.</summary>
    public List<ReceiveCompletion> Entries { get; init; } = [];

    public override void WritePayload(ref MessageWriter w)
    {
        if (Source is { } source)
        {
            w.U32((uint)source.Count);
            foreach (var (context, nbl) in source)
            {
                w.U64(context);
                w.U64(nbl.RequestId);
                w.U32((uint)nbl.Status);
                int filled = (int)Math.Min(nbl.TcpOffloadBytesTransferred, nbl.DataLength);
                w.U32((uint)filled);
                // The bytes placed, from the start of the post's data window (docs/target.md: not advanced).
                for (int i = 0, left = filled; i < nbl.BufferCount && left > 0; i++)
                {
                    var nb = nbl[i];
                    var seg = nb.GetSegment(0).Span.Slice(nb.DataOffset, Math.Min(nb.DataLength, left));
                    w.Raw(seg);
                    left -= seg.Length;
                }
            }
            return;
        }
        w.U32((uint)Entries.Count);
        foreach (var e in Entries)
        {
            w.U64(e.Context);
            w.U64(e.Id);
            w.U32((uint)e.Status);
            w.Blob(e.Data.Span);
        }
    }

    public static ReceiveCompleteMessage Read(ref MessageReader r)
    {
        int n = r.Count(ControlProtocol.MaxChainLength, 24);
        var m = new ReceiveCompleteMessage();
        try
        {
            for (int i = 0; i < n; i++)
            {
                ulong context = r.U64(), id = r.U64();
                var status = WireCodec.Status(ref r);
                m.Entries.Add(new ReceiveCompletion { Context = context, Id = id, Status = status, Data = r.Pooled(ControlProtocol.DefaultMaxMessageSize) });
            }
        }
        catch
        {
            m.Release();
            throw;
        }
        return m;
    }

    public override void Release()
    {
        foreach (var e in Entries) e.Data.Release();
    }
}

/// <summary>A receive indication: the host's handle and the bytes (the server took them from the target).</summary>
internal sealed class ReceiveIndicateMessage : ControlMessage
{
    public override MessageType Type => MessageType.ReceiveIndicate;
    public ulong Handle { get; init; }
    public PooledBytes? Data { get; init; }
    public NetBufferList? Source { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U64(Handle);
        if (Source is { } nbl)
        {
            w.U32((uint)nbl.DataLength);
            for (int i = 0; i < nbl.BufferCount; i++)
            {
                var nb = nbl[i];
                int skip = nb.DataOffset, left = nb.DataLength;
                for (int s = 0; s < nb.SegmentCount && left > 0; s++)
                {
                    var seg = nb.GetSegment(s).Span;
                    if (skip >= seg.Length) { skip -= seg.Length; continue; }
                    var part = seg[skip..];
                    skip = 0;
                    if (part.Length > left) part = part[..left];
                    w.Raw(part);
                    left -= part.Length;
                }
            }
        }
        else
        {
            w.Blob(Data!.Span);
        }
    }

    public override void Release() => Data?.Release();
}

internal sealed class TcpEventMessage : ControlMessage
{
    public override MessageType Type => MessageType.TcpEvent;
    public ulong Handle { get; init; }
    public TcpOffloadEventType EventType { get; init; }
    public uint Info { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U64(Handle);
        w.U32((uint)EventType);
        w.U32(Info);
    }

    public static TcpEventMessage Read(ref MessageReader r)
    {
        ulong handle = r.U64();
        uint type = r.U32();
        if (type is < 1 or > 4) throw MessageReader.Malformed($"event type {type}");
        return new TcpEventMessage { Handle = handle, EventType = (TcpOffloadEventType)type, Info = r.U32() };
    }
}

internal sealed class NeighborEventMessage : ControlMessage
{
    public override MessageType Type => MessageType.NeighborEvent;
    public NeighborEventCode Code { get; init; }
    public required OffloadBlock Block { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U32((uint)Code);
        WireCodec.Tree(ref w, Block, NblMode.Ref);
    }

    public static NeighborEventMessage Read(ref MessageReader r)
    {
        uint code = r.U32();
        if (code is < 1 or > 2) throw MessageReader.Malformed($"neighbour event code {code}");
        var block = WireCodec.ReadTree(ref r, NblMode.Ref);
        if (block.NextBlock is not null || block.DependentBlockList is not null) throw MessageReader.Malformed("neighbour event with more than one block");
        return new NeighborEventMessage { Code = (NeighborEventCode)code, Block = block };
    }
}

internal sealed class AdapterStatusMessage : ControlMessage
{
    public override MessageType Type => MessageType.AdapterStatus;
    public NdisStatus Status { get; init; }
    public required TcpConnectionOffloadCapabilities Capabilities { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U32((uint)Status);
        WireCodec.Capabilities(ref w, Capabilities);
    }
}
