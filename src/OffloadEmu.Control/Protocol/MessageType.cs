namespace OffloadEmu.Control.Protocol;

/// <summary>The type field of a control message header (docs/control.md, message table). Values 1-63 go from client
/// to server, 64-127 from server to client; anything else is unknown and closes the connection.</summary>
public enum MessageType : ushort
{
    /// <summary>Client hello: magic, version, client name. Must be the first message.</summary>
    Hello = 1,
    /// <summary>OID set of the offload parameters; answered by <see cref="StatusReply"/>.</summary>
    SetParameters = 2,
    /// <summary>Statistics OIDs of one IP version; answered by <see cref="StatisticsReply"/>.</summary>
    QueryStatistics = 3,
    /// <summary>Statistics OID set (zeroes one IP version); answered by <see cref="StatusReply"/>.</summary>
    ResetStatistics = 4,
    /// <summary>A frame for the non-offload send path; no reply.</summary>
    SendFrame = 5,
    /// <summary>InitiateOffload with a full block tree; completed by <see cref="StateComplete"/>.</summary>
    InitiateOffload = 6,
    /// <summary>TerminateOffload; completed by <see cref="StateComplete"/>.</summary>
    TerminateOffload = 7,
    /// <summary>UpdateOffload; completed by <see cref="StateComplete"/>.</summary>
    UpdateOffload = 8,
    /// <summary>InvalidateOffload; completed by <see cref="StateComplete"/>.</summary>
    InvalidateOffload = 9,
    /// <summary>QueryOffloadState; completed by <see cref="StateComplete"/>.</summary>
    QueryOffloadState = 10,
    /// <summary>TcpOffloadSend: a chain of NBLs with their data.</summary>
    TcpSend = 11,
    /// <summary>TcpOffloadReceive: a chain of receive posts (capacities only).</summary>
    TcpReceive = 12,
    /// <summary>TcpOffloadDisconnect: one NBL and the flags.</summary>
    TcpDisconnect = 13,
    /// <summary>TcpOffloadForward: TCP-header-first segments.</summary>
    TcpForward = 14,
    /// <summary>Receive credit: bytes of indicated data the client's host has taken (docs/control.md, indications).</summary>
    ReceiveConsumed = 15,
    /// <summary>A status snapshot of the daemon (link, sessions, counters, connections); answered by
    /// <see cref="StatusInfo"/>. Allowed from monitor sessions.</summary>
    QueryStatus = 16,
    /// <summary>The target's parameters in effect (offload parameters, tick, RTO floor, FIN_WAIT_2 time, challenge-ACK
    /// limit); answered by <see cref="ParametersReply"/>.</summary>
    QueryParameters = 17,
    /// <summary>A piece of a state request too big for one message (protocol version 2): the inner type, the whole
    /// payload's length, this piece's offset, then the bytes. The pieces of one request follow each other with nothing
    /// between them; the server decodes the request once it has them all (docs/control.md, fragmented messages).</summary>
    Fragment = 18,

    /// <summary>Server hello: version, capabilities, MAC, MTU.</summary>
    HelloReply = 64,
    /// <summary>A protocol error; the server closes the connection after it.</summary>
    Error = 65,
    /// <summary>The status of a synchronous request (SetParameters, ResetStatistics).</summary>
    StatusReply = 66,
    /// <summary>TCP and IP statistics of one IP version.</summary>
    StatisticsReply = 67,
    /// <summary>Completion of a state operation: the tree's statuses, contexts and state, returned NBLs.</summary>
    StateComplete = 68,
    /// <summary>Send completions.</summary>
    TcpSendComplete = 69,
    /// <summary>Receive completions with the bytes placed.</summary>
    TcpReceiveComplete = 70,
    /// <summary>Disconnect completion.</summary>
    TcpDisconnectComplete = 71,
    /// <summary>Forward completions.</summary>
    TcpForwardComplete = 72,
    /// <summary>A receive indication with its data (already accepted by the server, docs/control.md).</summary>
    ReceiveIndicate = 73,
    /// <summary>ProtocolTcpOffloadEvent.</summary>
    TcpEvent = 74,
    /// <summary>ProtocolIndicateOffloadEvent for a neighbour.</summary>
    NeighborEvent = 75,
    /// <summary>Adapter status (pause, upload-all, resume) with the capabilities in force.</summary>
    AdapterStatus = 76,
    /// <summary>A frame from the non-offload receive path.</summary>
    ReceiveFrame = 77,
    /// <summary>The answer to <see cref="QueryStatus"/>.</summary>
    StatusInfo = 78,
    /// <summary>The answer to <see cref="QueryParameters"/>.</summary>
    ParametersReply = 79,
    /// <summary>A piece of a <see cref="StateComplete"/> too big for one message (a terminate returning more undelivered
    /// receive data than a message holds), as <see cref="Fragment"/> the other way.</summary>
    ServerFragment = 80,
}
