using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using OffloadEmu.Chimney;

namespace OffloadEmu.Cli.Drive;

/// <summary>
/// Sits between the drive's host stack and its <c>RemoteOffloadTarget</c>: passes every request and callback through
/// unchanged and reports the stack's completions and indications as events (with <c>"stack":true</c>), so a script
/// sees the contract traffic of connect/accept connections too. Connections are named by their ports until the drive
/// has a <c>conn</c> for them.
/// </summary>
internal sealed class StackObserver(IOffloadTarget inner, DriveEventWriter events, Func<ushort, ushort, int?> connOf) : DelegatingOffloadTarget(inner)
{
    private readonly ConcurrentDictionary<ulong, Ports> _byHandle = new();
    private readonly ConcurrentDictionary<ulong, Ports> _byContext = new();
    private readonly ConditionalWeakTable<NetBufferList, Ports> _byNbl = [];

    /// <summary>A TCP connection's ports (local, remote).</summary>
    private sealed record class Ports(ushort Local, ushort Remote);

    public override void Bind(IOffloadHost host) => base.Bind(new Host(this, host));

    public override NdisStatus InitiateOffload(OffloadBlock root)
    {
        Visit(root, b =>
        {
            if (b.TcpConst is not { } c) return;
            var ports = new Ports(c.LocalPort, c.RemotePort);
            _byHandle[b.NdisOffloadHandle] = ports;
            for (var nbl = b.NetBufferListChain; nbl is not null; nbl = nbl.Next) _byNbl.AddOrUpdate(nbl, ports);
        });
        return base.InitiateOffload(root);
    }

    public override NdisStatus TcpOffloadSend(ulong context, NetBufferList chain) => base.TcpOffloadSend(context, Tag(context, chain));

    public override NdisStatus TcpOffloadReceive(ulong context, NetBufferList chain) => base.TcpOffloadReceive(context, Tag(context, chain));

    public override NdisStatus TcpOffloadDisconnect(ulong context, NetBufferList nbl, TcpDisconnectFlags flags)
        => base.TcpOffloadDisconnect(context, Tag(context, nbl), flags);

    public override NdisStatus TcpOffloadForward(ulong context, NetBufferList chain) => base.TcpOffloadForward(context, Tag(context, chain));

    private NetBufferList Tag(ulong context, NetBufferList chain)
    {
        if (_byContext.TryGetValue(context, out var ports))
            for (var nbl = chain; nbl is not null; nbl = nbl.Next) _byNbl.AddOrUpdate(nbl, ports);
        return chain;
    }

    private static void Visit(OffloadBlock? b, Action<OffloadBlock> action)
    {
        for (; b is not null; b = b.NextBlock)
        {
            action(b);
            Visit(b.DependentBlockList, action);
        }
    }

    private void Emit(string name, Ports? ports, Action<Utf8JsonWriter>? fields)
        => events.Emit(name, null, w =>
        {
            w.WriteBoolean("stack", true);
            if (ports is not null)
            {
                if (connOf(ports.Local, ports.Remote) is { } conn) w.WriteNumber("conn", conn);
                else w.WriteNull("conn");
                w.WriteNumber("local_port", ports.Local);
                w.WriteNumber("remote_port", ports.Remote);
            }
            fields?.Invoke(w);
        });

    /// <summary>The stack's host, observed: what a callback reports is read before the stack sees (and may recycle) it.</summary>
    private sealed class Host(StackObserver o, IOffloadHost host) : IOffloadHost
    {
        public void InitiateOffloadComplete(OffloadBlock root)
        {
            Visit(root, b =>
            {
                if (b.TcpConst is null || !o._byHandle.TryGetValue(b.NdisOffloadHandle, out var ports)) return;
                if (b.Status == NdisStatus.Success && b.MiniportOffloadContext is { HasContext: true } slot) o._byContext[slot.Context] = ports;
                var status = b.Status;
                o.Emit("initiate_complete", ports, w => w.WriteString("status", DriveJson.StatusName(status)));
            });
            host.InitiateOffloadComplete(root);
        }

        public void TerminateOffloadComplete(OffloadBlock root)
        {
            var done = new List<(Ports Ports, NdisStatus Status, string? State)>();
            Visit(root, b =>
            {
                if (b.Type != OffloadBlockType.TcpOffloadState) return;
                if (!o._byHandle.TryRemove(b.NdisOffloadHandle, out var ports)) return;
                if (b.MiniportOffloadContext is { } slot) o._byContext.TryRemove(slot.Context, out _);
                done.Add((ports, b.Status, b.TcpDelegated?.State.ToString()));
            });
            host.TerminateOffloadComplete(root);
            foreach (var (ports, status, state) in done)
                o.Emit("terminate_complete", ports, w =>
                {
                    w.WriteString("status", DriveJson.StatusName(status));
                    if (state is not null) w.WriteString("tcp_state", state);
                });
        }

        public void UpdateOffloadComplete(OffloadBlock root) => host.UpdateOffloadComplete(root);

        public void InvalidateOffloadComplete(OffloadBlock root) => host.InvalidateOffloadComplete(root);

        public void QueryOffloadStateComplete(OffloadBlock root) => host.QueryOffloadStateComplete(root);

        public void TcpOffloadSendComplete(NetBufferList chain) => Io("send_complete", chain, host.TcpOffloadSendComplete);

        public void TcpOffloadReceiveComplete(NetBufferList chain) => Io("receive_complete", chain, host.TcpOffloadReceiveComplete);

        public void TcpOffloadDisconnectComplete(NetBufferList nbl) => Io("disconnect_complete", nbl, host.TcpOffloadDisconnectComplete);

        public void TcpOffloadForwardComplete(NetBufferList chain) => Io("forward_complete", chain, host.TcpOffloadForwardComplete);

        private void Io(string name, NetBufferList chain, Action<NetBufferList> forward)
        {
            var done = new List<(Ports? Ports, NdisStatus Status, int Bytes)>();
            for (var nbl = chain; nbl is not null; nbl = nbl.Next)
                done.Add((o._byNbl.TryGetValue(nbl, out var p) ? p : null, nbl.Status, nbl.TcpOffloadBytesTransferred));
            forward(chain);
            foreach (var (ports, status, bytes) in done)
                o.Emit(name, ports, w =>
                {
                    w.WriteString("status", DriveJson.StatusName(status));
                    w.WriteNumber("bytes", bytes);
                });
        }

        public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
        {
            long length = nbl.DataLength;
            var answer = host.TcpOffloadReceiveIndicate(ndisOffloadHandle, nbl, status, out bytesConsumed);
            int consumed = bytesConsumed;
            o.Emit("receive_indicate", o._byHandle.GetValueOrDefault(ndisOffloadHandle), w =>
            {
                w.WriteNumber("bytes", length);
                w.WriteString("answer", DriveJson.StatusName(answer));
                w.WriteNumber("bytes_consumed", consumed);
            });
            return answer;
        }

        public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info)
        {
            host.TcpOffloadEvent(ndisOffloadHandle, type, info);
            o.Emit(RawDriver.EventName(type), o._byHandle.GetValueOrDefault(ndisOffloadHandle), w => RawDriver.EventFields(w, type, info));
        }

        public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code)
        {
            host.NeighborOffloadEvent(neighborBlock, code);
            var mac = neighborBlock.NeighborCached?.DlDestinationAddress;
            o.Emit(code == NeighborEventCode.Query ? "neighbor_query" : "neighbor_in_doubt", null, w =>
            {
                if (mac is { } m) w.WriteString("mac", m.ToString());
            });
        }

        public void IndicateStatus(NdisStatus adapterStatus) => host.IndicateStatus(adapterStatus); // reported by the drive's own session

        public void ReceiveFrame(ReadOnlySpan<byte> frame) => host.ReceiveFrame(frame);
    }
}
