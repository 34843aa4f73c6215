namespace OffloadEmu.Chimney;

/// <summary>
/// The chimney contract rules a <see cref="ContractChecker"/> enforces. Values 1xx are broken by the target, 2xx by
/// the host; the value is the rule's stable id (<c>CC</c> + value, see <see cref="ContractRules.GetId"/>).
/// </summary>
/// <remarks>Each member names the spec section it comes from; <c>docs/chimney.md</c> lists them with the rules not enforced.</remarks>
public enum ContractRule
{
    /// <summary>A state operation or TCP I/O request returned something other than PENDING (spec §0, §1, §7).</summary>
    RequestNotPending = 101,

    /// <summary>A receive return returned something other than SUCCESS: it cannot fail (spec §1, §3, §9.11).</summary>
    ReceiveReturnNotSuccess = 102,

    /// <summary>The same NBL or state tree completed twice (spec §0, §1).</summary>
    DuplicateCompletion = 103,

    /// <summary>A completion (or a send returned at terminate) of a request never made, or made as another kind (spec §0, §1).</summary>
    UnknownCompletion = 104,

    /// <summary>Sends or receive posts of one connection completed (or returned at terminate) out of stream/post order (spec §3, §5).</summary>
    CompletionOutOfOrder = 105,

    /// <summary>
    /// A completion's <see cref="NetBufferList.TcpOffloadBytesTransferred"/> is negative or beyond the request's bytes, or a
    /// SUCCESS send or disconnect reports fewer bytes than it carried, or a send after a failed one in the same completion
    /// succeeds or reports bytes (spec §3, §5, §6.1).
    /// </summary>
    CompletionByteCount = 106,

    /// <summary>A disconnect completed while earlier sends of the connection were still outstanding (spec §6.1).</summary>
    DisconnectBeforeEarlierSends = 107,

    /// <summary>An I/O request of a connection completed after the connection's terminate completed (spec §6.6).</summary>
    CompletionAfterTerminate = 108,

    /// <summary>A terminate completed while I/O of the connection was still outstanding and not returned (spec §4, §5, §6.6).</summary>
    TerminateWithOutstandingIo = 109,

    /// <summary>
    /// A completed state tree is inconsistent: PENDING or an initiate-only status outside initiate, a placeholder not
    /// SUCCESS, a context written on failure or missing on success, ImReserved or SourceHandle changed (spec §1, §2, §6.7).
    /// </summary>
    InvalidTreeCompletion = 110,

    /// <summary>A receive indication or event for an object never offloaded, already terminated, or of the wrong layer (spec §0, §6.2-§6.4).</summary>
    IndicationOnUnknownObject = 111,

    /// <summary>Data indicated before the connection's initiate completion returned (spec §3, buffered data at initiate).</summary>
    IndicationBeforeInitiateCompleted = 112,

    /// <summary>A receive indication with a status other than SUCCESS (spec §3).</summary>
    IndicationStatusNotSuccess = 113,

    /// <summary>
    /// A receive indication while a receive post able to take data, handed to the target before the previous indication
    /// on the connection was answered, is still outstanding: data must go into posts (spec §3).
    /// </summary>
    IndicationWhilePostsAvailable = 114,

    /// <summary>A receive indication after the host refused one (OFFLOAD_DATA_NOT_ACCEPTED) and before any new post (spec §3).</summary>
    IndicationAfterRefusal = 115,

    /// <summary>A receive completion or indication started while another was in progress on the same connection (spec §3, checklist 34).</summary>
    ReceiveDeliveryOverlap = 116,

    /// <summary>The peer FIN (Disconnect event) indicated while data the host refused or left is not yet consumed (spec §6.2, checklist 48).</summary>
    DisconnectIndicatedBeforeDataConsumed = 117,

    /// <summary>Data indicated or placed in a post after the Disconnect event closed the receive half (spec §3, §6.2).</summary>
    DataAfterDisconnectIndicated = 118,

    /// <summary>A receive indication with an NBL the host still owns or that belongs to a pending request (spec §0, §3).</summary>
    IndicationNblInUse = 119,

    /// <summary>
    /// A receive post completed with its NBs' data start not advanced by exactly <see cref="NetBufferList.TcpOffloadBytesTransferred"/>
    /// (not advanced, advanced too far or too little), or with the end of its data window moved (spec §3).
    /// </summary>
    ReceiveCompletionNotAdvanced = 120,

    /// <summary>TCP I/O on a context the host never offloaded, whose initiate has not completed, or whose terminate completed (spec §0, §1).</summary>
    IoOnUnknownConnection = 201,

    /// <summary>TCP I/O on a connection after its terminate was issued (spec §4, §5, §6.6).</summary>
    IoAfterTerminate = 202,

    /// <summary>An NBL posted (or handed over in an initiate tree) while the target still owns it, or an NBL chain with a cycle (spec §0, §1).</summary>
    NblStillOwned = 203,

    /// <summary>An indicated NBL returned a second time (spec §3).</summary>
    ReceiveReturnTwice = 204,

    /// <summary>A receive return of an NBL the target never indicated, did not have accepted, or never handed back at terminate (spec §3, §6.6).</summary>
    ReceiveReturnUnknown = 205,

    /// <summary>
    /// A block, context slot or offload handle reused while the target still owns it: a block of a pending state
    /// operation passed again, the slot or handle of a live object given to a new offload (spec §1, §2).
    /// </summary>
    BlockStateReused = 206,

    /// <summary>A malformed state tree: a cycle, an undefined block type, wrong layering, missing state, a new offload outside initiate (spec §2).</summary>
    MalformedTree = 207,

    /// <summary>
    /// A state operation on an object not available for it: unknown or terminated context, terminate issued twice or while
    /// the object's update/invalidate/query is pending, a second concurrent update, an update after invalidate, a path or
    /// neighbour terminated while a dependent stays offloaded (spec §2, §6.6, §6.7).
    /// </summary>
    StateOperationOnUnavailableObject = 208,

    /// <summary>An answer to a receive indication that is not SUCCESS / NOT_ACCEPTED / PARTIALLY_ACCEPTED with a matching byte count (spec §3).</summary>
    IndicationAnswerInvalid = 209,

    /// <summary>
    /// A receive post whose <see cref="NetBufferList.TcpReceiveBytesTransferred"/> is negative or more than the bytes before
    /// its data start: pre-filled bytes lie before the data window, which is the free space (spec §3, docs/chimney.md).
    /// </summary>
    ReceivePostPrefillInvalid = 210,
}
