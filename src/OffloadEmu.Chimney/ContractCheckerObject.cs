namespace OffloadEmu.Chimney;

/// <summary>A <see cref="ContractChecker"/>'s record of one offloaded object (neighbour, path or TCP connection).</summary>
/// <remarks>
/// Chimney spec §2-§6. Created when the initiate goes down (indications may start once the target installed the
/// object), allocated once per object; the per-request tracking on it is counters and two FIFOs that stop growing
/// once warm. Guarded by the checker's lock.
/// </remarks>
internal sealed class ContractCheckerObject
{
    public ContractCheckerObject(OffloadBlock block)
    {
        Block = block;
        Layer = block.Layer;
        Handle = block.NdisOffloadHandle;
        Slot = block.MiniportOffloadContext!;
        if (Layer == OffloadLayer.Tcp)
        {
            Sends = new Queue<ContractCheckerQueued>(16);
            Receives = new Queue<ContractCheckerQueued>(16);
        }
    }

    public OffloadBlock Block { get; }

    public OffloadLayer Layer { get; }

    public ulong Handle { get; }

    /// <summary>The host's slot the target writes the context into.</summary>
    public OffloadContextSlot Slot { get; }

    public ulong Context { get; set; }

    public ContractCheckerObjectState State { get; set; }

    public bool Invalidated { get; set; }

    /// <summary>The object this one depends on (path of a TCP connection, neighbour of a path), when known.</summary>
    public ContractCheckerObject? Parent { get; set; }

    public int PendingUpdates { get; set; }

    /// <summary>Pending update, invalidate and query operations naming the object.</summary>
    public int PendingStateOperations { get; set; }

    public Queue<ContractCheckerQueued>? Sends { get; }

    public Queue<ContractCheckerQueued>? Receives { get; }

    public int OutstandingSends;
    public int OutstandingReceives;
    public int OutstandingDisconnects;
    public int OutstandingForwards;

    /// <summary>Receive completions and indications of this connection in progress (spec §3 serialization).</summary>
    public int DeliveryDepth;

    /// <summary>Stamp of the receive completion call that last entered this connection (counts each connection once per call).</summary>
    public long DeliveryCall;

    /// <summary>Stamp of the send completion call that last completed a send of this connection with a failure status.</summary>
    public long SendFailureCall;

    /// <summary>Receive posts able to take data: ordinal of the last registered one.</summary>
    public long CapacityPosted;

    /// <summary>Highest capacity ordinal whose post call had returned to the host.</summary>
    public long CapacityReturned;

    /// <summary>Highest capacity ordinal completed.</summary>
    public long CapacityCompleted;

    /// <summary><see cref="CapacityReturned"/> when the last receive indication was answered: posts the target had by then.</summary>
    public long CapacityArmed;

    /// <summary>Set by an OFFLOAD_DATA_NOT_ACCEPTED answer, cleared by the next post (spec §3).</summary>
    public bool IndicationsBlocked;

    /// <summary>Bytes the target has shown it still holds (refused or left by partial acceptance), not yet delivered.</summary>
    public long HeldBytes;

    /// <summary>The Disconnect (peer FIN) event was indicated.</summary>
    public bool FinIndicated;

    public int OutstandingIo => OutstandingSends + OutstandingReceives + OutstandingDisconnects + OutstandingForwards;
}
