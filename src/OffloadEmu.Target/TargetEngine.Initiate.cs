using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Target;

internal sealed partial class TargetEngine
{
    private const uint MinIpv4Mtu = 576;
    private const uint MinIpv6Mtu = 1280;

    /// <summary>
    /// Initiate offload (spec §2): depth first, then breadth; each new object is installed (and can receive at once) or
    /// fails with its resource code; the statuses follow the placeholder / linker / new-offload rules.
    /// </summary>
    private void Initiate(OffloadBlock root, Instant now)
    {
        // The target's areas while it owns the tree: Scratch = parent block, MiniportReserved = the object in place.
        foreach (var visit in OffloadTree.Traverse(root))
        {
            var block = visit.Block;
            block.Scratch = visit.Parent;
            block.MiniportReserved = block.Role == OffloadBlockRole.Linker && TryGetAnyObject(block.MiniportOffloadContext!.Context, out var existing)
                ? existing
                : null;
        }
        var installed = new List<TcpConnection>();
        OffloadTree.ApplyInitiate(root, block =>
        {
            try
            {
                return InstallObject(block, now, installed);
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
            {
                TargetLog.InitiateRefused(_logger, block.ToString(), ex.Message);
                return NdisStatus.Failure;
            }
        });
        foreach (var visit in OffloadTree.Traverse(root))
        {
            visit.Block.Scratch = null;
            visit.Block.MiniportReserved = null;
        }
        Completions.PostInitiateOffloadComplete(Host, root);
        // Indications may follow now: the completion queue is FIFO, so the host has seen the completion first (spec §3).
        foreach (var c in installed)
        {
            c.InitiateCompleted = true;
            c.MarkDirty(); // on the loop that owns it (which services it when the barrier lets it go)
        }
    }

    private static object? ParentObject(OffloadBlock block, OffloadLayer layer)
    {
        // Placeholders carry no object: look further up for the object of the wanted layer.
        for (var parent = block.Scratch as OffloadBlock; parent is not null; parent = parent.Scratch as OffloadBlock)
        {
            if (parent.Layer != layer) continue;
            return parent.MiniportReserved;
        }
        return null;
    }

    private NdisStatus InstallObject(OffloadBlock block, Instant now, List<TcpConnection> installed)
    {
        if (block.ValidateState() is { } invalid)
        {
            TargetLog.InitiateRefused(_logger, block.ToString(), invalid);
            return NdisStatus.Failure;
        }
        var slot = block.MiniportOffloadContext!;
        switch (block.Layer)
        {
            case OffloadLayer.Neighbor:
            {
                if (_neighborCount >= Options.NeighborCapacity) return NdisStatus.OffloadNeighborEntries;
                var constState = block.NeighborConst!.Value;
                if (constState.DlSourceAddress != MacAddress.Zero && constState.DlSourceAddress != NicMac
                    && !Contains(Options.AdditionalSourceMacs, constState.DlSourceAddress))
                    return NdisStatus.OffloadHwAddressEntries;
                if (constState.VlanId != 0 && !Contains(Options.VlanIds, constState.VlanId)) return NdisStatus.OffloadVlanMismatch;
                var neighbor = new NeighborObject(NewContext(), block.NdisOffloadHandle, constState, block.NeighborCached!.Value);
                uint nct = NicTicks(now);
                uint nrd = block.NeighborDelegated?.NicReachabilityDelta ?? 0;
                neighbor.Nrt = unchecked(nct - nrd);
                neighbor.Hrt = unchecked(nct - neighbor.Cached.HostReachabilityDelta);
                Install(block, slot, neighbor);
                _neighborCount++;
                return NdisStatus.Success;
            }
            case OffloadLayer.Path:
            {
                if (ParentObject(block, OffloadLayer.Neighbor) is not NeighborObject neighbor) return NdisStatus.Failure;
                if (_pathCount >= Options.PathCapacity) return NdisStatus.OffloadPathEntries;
                var constState = block.PathConst!.Value;
                bool ipv6 = constState.IsIpv6;
                if (ipv6 ? !Capabilities.SupportIPv6 : !Capabilities.SupportIPv4) return NdisStatus.Failure;
                uint mtu = block.PathCached!.Value.PathMtu;
                if (mtu > (uint)_device.Mtu) return NdisStatus.OffloadPathMtu;
                if (mtu < (ipv6 ? MinIpv6Mtu : MinIpv4Mtu)) return NdisStatus.Failure;
                var path = new PathObject(NewContext(), block.NdisOffloadHandle, constState, block.PathCached!.Value, neighbor);
                neighbor.Dependents++;
                Install(block, slot, path);
                _pathCount++;
                return NdisStatus.Success;
            }
            case OffloadLayer.Tcp:
            {
                if (ParentObject(block, OffloadLayer.Path) is not PathObject path) return NdisStatus.Failure;
                var status = CreateConnection(block, path, now, out var connection);
                if (status != NdisStatus.Success) return status;
                Install(block, slot, connection!);
                var owner = Loops[connection!.Owner];
                owner._connections.Add(connection.Key, connection);
                path.Dependents++;
                Volatile.Write(ref owner._tcpCount, owner._tcpCount + 1);
                installed.Add(connection);
                TargetLog.Offloaded(_logger, connection.ToString());
                return NdisStatus.Success;
            }
            default:
                return NdisStatus.Failure;
        }
    }

    private void Install(OffloadBlock block, OffloadContextSlot slot, OffloadObject obj)
    {
        Loops[LoopOfContext(obj.Context)]._objects.Add(obj.Context, obj);
        slot.Context = obj.Context;
        block.MiniportReserved = obj;
    }

    private NdisStatus CreateConnection(OffloadBlock block, PathObject path, Instant now, out TcpConnection? connection)
    {
        connection = null;
        if (TotalConnectionCount >= Capabilities.TcpConnectionOffloadCapacity) return NdisStatus.OffloadTcpEntries;
        var constState = block.TcpConst!.Value;
        var cached = block.TcpCached!.Value;
        var delegated = block.TcpDelegated!;
        // Spec §2: never offloaded in CLOSED, LISTEN, SYN_SENT, SYN_RCVD or TIME_WAIT.
        if (delegated.State is < TcpState.Established or > TcpState.LastAck) return NdisStatus.Failure;
        if (cached.InitialRcvWnd > Options.MaxReceiveWindow || delegated.RcvWnd > Options.MaxReceiveWindow) return NdisStatus.OffloadTcpRcvWindow;
        var pathConst = path.Const;
        var key = new ConnectionKey(pathConst.DestinationAddress, pathConst.SourceAddress, constState.RemotePort, constState.LocalPort);
        var owner = Loops[LoopHash.LoopOf(key, Loops.Length)];
        if (owner._connections.ContainsKey(key)) return NdisStatus.Failure;
        var addresses = path.IsIpv6
            ? TcpEndpointAddresses.Ipv6(pathConst.SourceAddress.Ipv6, pathConst.DestinationAddress.Ipv6)
            : TcpEndpointAddresses.Ipv4(pathConst.SourceAddress.Ipv4, pathConst.DestinationAddress.Ipv4);
        var config = _tcpConfig with
        {
            Mss = PathMss(path),
            ReceiveBufferSize = (int)Math.Max(cached.InitialRcvWnd, 1024),
            Sack = Capabilities.SupportSack && (constState.Flags & TcpConstFlags.Sack) != 0,
        };

        // Outstanding send data (spec §5): the block's chain, else the delegated head; one NB per NBL, first byte SndUna.
        var sendChain = block.NetBufferListChain ?? delegated.SendDataHead;
        var buffers = new List<NblSendBuffer>();
        for (var nbl = sendChain; nbl is not null; nbl = nbl.Next)
        {
            var buffer = owner.RentSendBuffer();
            buffer.Set(nbl, isDisconnect: false);
            buffers.Add(buffer);
            if (ReferenceEquals(nbl, delegated.SendDataTail)) break;
        }
        // Buffered receive data (spec §3): copied before completing; delivered before anything newer.
        byte[] received = [];
        if (delegated.BufferedData is { } bufferedData)
        {
            long total = NetBufferListChain.GetDataLength(bufferedData);
            if (total > Options.MaxReceiveWindow)
            {
                foreach (var b in buffers) owner.ReturnSendBuffer(b);
                return NdisStatus.OffloadTcpRcvWindow;
            }
            received = new byte[total];
            NetBufferListChain.CopyTo(bufferedData, 0, received);
        }
        TcpMachine machine;
        try
        {
            var sendBuffers = new ITcpSendBuffer[buffers.Count];
            for (int i = 0; i < buffers.Count; i++) sendBuffers[i] = buffers[i];
            machine = TcpMachine.FromOffloadState(config, addresses, constState, cached, delegated, sendBuffers, 0, received, now);
        }
        catch (ArgumentException ex)
        {
            foreach (var b in buffers) owner.ReturnSendBuffer(b);
            TargetLog.InitiateRefused(_logger, block.ToString(), ex.Message);
            return NdisStatus.Failure;
        }
        connection = new TcpConnection(owner, NewContext(owner.Index), block.NdisOffloadHandle, path, machine, key, constState, cached);
        connection.StartPolicies(now);
        foreach (var b in buffers) connection.AdoptInitialSend(b);
        connection.HighestSent = delegated.SndMax;
        return NdisStatus.Success;
    }

    /// <summary>Largest TCP segment the path allows: PathMtu minus the IP and TCP headers (spec §5).</summary>
    private static ushort PathMss(PathObject path)
        => (ushort)Math.Clamp((long)path.Cached.PathMtu - (path.IsIpv6 ? 60 : 40), 64, ushort.MaxValue);

    private static bool Contains<T>(IReadOnlyList<T> list, T value) where T : IEquatable<T>
    {
        for (int i = 0; i < list.Count; i++)
            if (list[i].Equals(value)) return true;
        return false;
    }
}
