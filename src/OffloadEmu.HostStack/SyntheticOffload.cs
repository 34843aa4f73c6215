using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>
/// A connection to offload without any handshake on the wire (issue 5, "synthetic offload for testing"): a precise test
/// peer (scapy, a TCP machine) chose the sequence numbers, windows, scales, MSS, SACK/timestamp flags and TsRecent, and
/// the host stack hands exactly that state to the target. See <see cref="HostStack.OffloadSyntheticAsync"/>.
/// </summary>
public sealed record class SyntheticConnection
{
    /// <summary>The peer's address (on-link, or reached through the gateway).</summary>
    public required Ipv4Address RemoteAddress { get; init; }

    /// <summary>The next hop's MAC address: installed in the neighbour cache as reachable. Null: the cache's entry is
    /// used, resolved with ARP first when there is none.</summary>
    public MacAddress? RemoteMac { get; init; }

    /// <summary>TCP const state; its <see cref="TcpConstState.LocalPort"/> and <see cref="TcpConstState.RemotePort"/>
    /// name the connection.</summary>
    public required TcpConstState Const { get; init; }

    /// <summary>TCP cached state (keep-alive, MaxRT, Nagle, initial receive window, TTL, TOS).</summary>
    public required TcpCachedState Cached { get; init; }

    /// <summary>TCP delegated state: ESTABLISHED through LAST-ACK, no send data and no buffered data (the state is a
    /// copy: the caller's object is not handed to the target).</summary>
    public required TcpDelegatedState Delegated { get; init; }

    internal IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (RemoteAddress.IsUnspecified) errors.Add("RemoteAddress is required.");
        if (Const.LocalPort == 0 || Const.RemotePort == 0) errors.Add("Const.LocalPort and Const.RemotePort are required.");
        if (Delegated is null) errors.Add("Delegated is required.");
        else
        {
            if (Delegated.State is < TcpState.Established or > TcpState.LastAck)
                errors.Add($"A connection in {Delegated.State} cannot be offloaded (chimney spec §2).");
            if (Delegated.SendDataHead is not null || Delegated.BufferedData is not null)
                errors.Add("A synthetic offload carries no send data and no buffered receive data.");
            if (Delegated.SndNxt != Delegated.SndUna || Delegated.SndMax != Delegated.SndUna)
                errors.Add("A synthetic offload has nothing in flight: SndUna = SndNxt = SndMax.");
        }
        return errors;
    }
}

/// <summary>The outcome of <see cref="HostStack.OffloadSyntheticAsync"/>.</summary>
/// <param name="Socket">The offloaded connection (reads, writes, upload and re-offload as for any other).</param>
/// <param name="TargetTsTime">The target's timestamp clock of the connection just after the offload (a query of its
/// delegated TsTime, spec §6.7): the TSval the target puts on its next segment, give or take the ticks since.</param>
public readonly record struct SyntheticOffloadResult(OffloadSocket Socket, uint TargetTsTime);

/// <summary>A synthetic offload in progress (engine-owned).</summary>
internal sealed class SyntheticOffload(SyntheticConnection request, TaskCompletionSource<SyntheticOffloadResult> completion)
{
    public SyntheticConnection Request { get; } = request;

    public TaskCompletionSource<SyntheticOffloadResult> Completion { get; } = completion;
}
