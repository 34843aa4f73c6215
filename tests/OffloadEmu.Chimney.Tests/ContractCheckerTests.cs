using OffloadEmu.Chimney.State;
using OffloadEmu.Chimney.Tests.Fakes;
using static OffloadEmu.Chimney.Tests.Fakes.CheckerRig;

namespace OffloadEmu.Chimney.Tests;

/// <summary>
/// The contract checker, rule by rule: a scripted target or host breaks one rule and the checker reports exactly that
/// rule (chimney spec §0-§6; the rule list is in docs/chimney.md, "Contract checker").
/// </summary>
public sealed class ContractCheckerTests
{
    private static ulong Ctx(OffloadBlock block) => block.MiniportOffloadContext!.Context;

    private static NdisStatus Issue(IOffloadTarget target, string request, ulong context, NetBufferList chain) => request switch
    {
        "Send" => target.TcpOffloadSend(context, chain),
        "Receive" => target.TcpOffloadReceive(context, chain),
        "Disconnect" => target.TcpOffloadDisconnect(context, chain, TcpDisconnectFlags.Graceful),
        _ => target.TcpOffloadForward(context, chain),
    };

    private static NdisStatus IssueTree(IOffloadTarget target, string operation, OffloadBlock root) => operation switch
    {
        "Initiate" => target.InitiateOffload(root),
        "Terminate" => target.TerminateOffload(root),
        "Update" => target.UpdateOffload(root),
        "Invalidate" => target.InvalidateOffload(root),
        _ => target.QueryOffloadState(root),
    };

    /// <summary>A new TCP offload block with all its state (hangs under a path linker).</summary>
    private static OffloadBlock NewTcp(ulong handle) => WithState(SampleTree.Make(OffloadBlockType.TcpOffloadState, handle));

    private static OffloadBlock WithState(OffloadBlock block)
    {
        block.TcpConst = new TcpConstState();
        block.TcpCached = new TcpCachedState();
        block.TcpDelegated = new TcpDelegatedState();
        return block;
    }

    // ---------- target side ----------

    [Theory]
    [InlineData("Send")]
    [InlineData("Receive")]
    [InlineData("Disconnect")]
    [InlineData("Forward")]
    public void Io_request_returning_other_than_pending_is_reported_and_the_nbls_go_back_to_the_host(string request)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.RefuseWith = NdisStatus.Failure;
        var nbl = Nbl(request == "Disconnect" ? 0 : 100);

        Assert.Equal(NdisStatus.Failure, Issue(rig.Checker, request, Ctx(tree.T1), nbl));

        rig.Only(ContractRule.RequestNotPending);
        Assert.Equal(0, rig.Checker.TrackedNblCount);
        rig.Target.RefuseWith = null;
        Issue(rig.Checker, request, Ctx(tree.T1), nbl); // the host owns it again: no NblStillOwned
        rig.Run();
        rig.Only(ContractRule.RequestNotPending);
    }

    [Theory]
    [InlineData("Initiate")]
    [InlineData("Terminate")]
    [InlineData("Update")]
    [InlineData("Invalidate")]
    [InlineData("Query")]
    public void State_request_returning_other_than_pending_is_reported_and_forgotten(string operation)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        var fresh = new SampleTree(0x200).WithState();
        var root = operation == "Initiate" ? fresh.Root : SampleTree.Existing(tree.T1);
        rig.Target.RefuseWith = NdisStatus.Failure;

        Assert.Equal(NdisStatus.Failure, IssueTree(rig.Checker, operation, root));
        rig.Only(ContractRule.RequestNotPending);

        // Nothing of the refused request is left: the same request goes through cleanly.
        rig.Target.RefuseWith = null;
        Assert.Equal(NdisStatus.Pending, IssueTree(rig.Checker, operation, root));
        rig.Run();
        rig.Only(ContractRule.RequestNotPending);
    }

    [Fact]
    public void Receive_return_answering_other_than_success_is_reported()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        var nbl = Nbl();
        rig.Indicate(Ctx(tree.T1), nbl);
        rig.Target.ReceiveReturnStatus = NdisStatus.Failure;

        rig.Checker.TcpOffloadReceiveReturn(nbl);

        rig.Only(ContractRule.ReceiveReturnNotSuccess);
    }

    [Fact]
    public void Second_completion_of_a_send_is_a_duplicate()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        var nbl = Nbl();
        rig.Checker.TcpOffloadSend(Ctx(tree.T1), nbl);
        rig.Run();
        rig.AssertClean();

        rig.TargetSide.TcpOffloadSendComplete(nbl);

        rig.Only(ContractRule.DuplicateCompletion);
        Assert.Equal(2, rig.Host.Calls.Count(c => c.Name == "SendComplete")); // Record mode forwards unchanged
    }

    [Fact]
    public void Second_completion_of_a_tree_is_a_duplicate()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();

        rig.TargetSide.InitiateOffloadComplete(tree.Root);

        rig.Only(ContractRule.DuplicateCompletion);
    }

    [Theory]
    [InlineData("never made")]
    [InlineData("send completed as receive")]
    [InlineData("tree never issued")]
    [InlineData("update completed as query")]
    public void Completion_of_a_request_never_made_is_unknown(string variant)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        switch (variant)
        {
            case "never made":
                rig.TargetSide.TcpOffloadSendComplete(Done(Nbl()));
                break;
            case "send completed as receive":
                var nbl = Nbl();
                rig.Checker.TcpOffloadSend(Ctx(tree.T1), nbl);
                rig.TargetSide.TcpOffloadReceiveComplete(Done(nbl));
                break;
            case "tree never issued":
                rig.TargetSide.QueryOffloadStateComplete(SampleTree.Existing(tree.T1));
                break;
            default:
                var update = SampleTree.Existing(tree.T1);
                rig.Checker.UpdateOffload(update);
                rig.TargetSide.QueryOffloadStateComplete(update);
                break;
        }
        rig.Only(ContractRule.UnknownCompletion);
    }

    [Theory]
    [InlineData("Send")]
    [InlineData("Receive")]
    public void Completing_a_later_request_before_an_earlier_one_is_out_of_order(string request)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var chain = Chain(2);
        var first = chain;
        var second = chain.Next!;
        Issue(rig.Checker, request, Ctx(tree.T1), chain);

        if (request == "Send") rig.TargetSide.TcpOffloadSendComplete(Done(second));
        else rig.TargetSide.TcpOffloadReceiveComplete(Done(second));
        rig.Only(ContractRule.CompletionOutOfOrder);

        first.Next = null;
        if (request == "Send") rig.TargetSide.TcpOffloadSendComplete(Done(first));
        else rig.TargetSide.TcpOffloadReceiveComplete(Done(first));
        rig.Only(ContractRule.CompletionOutOfOrder);
    }

    [Fact]
    public void Sends_completed_in_order_across_batches_are_clean()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var a = Chain(3);
        var b = Chain(2);
        rig.Checker.TcpOffloadSend(Ctx(tree.T1), a);
        rig.Checker.TcpOffloadSend(Ctx(tree.T1), b);
        var a3 = a.Next!.Next!;
        // One batch ends inside the first request, the next spans both (spec §0: completions may batch).
        a.Next!.Next = null;
        Done(a.Next!);
        rig.TargetSide.TcpOffloadSendComplete(Done(a));
        a3.Next = b;
        Done(a3);
        Done(b);
        Done(b.Next!);
        rig.TargetSide.TcpOffloadSendComplete(a3);
        rig.AssertClean();
        Assert.Equal(0, rig.Checker.TrackedNblCount);
    }

    [Theory]
    [InlineData("Send", NdisStatus.Success, 99)]
    [InlineData("Send", NdisStatus.UploadInProgress, 101)]
    [InlineData("Disconnect", NdisStatus.Success, 10)]
    [InlineData("Receive", NdisStatus.Success, 101)]
    [InlineData("Receive", NdisStatus.Success, -1)]
    public void A_byte_count_that_does_not_match_the_request_is_reported(string request, NdisStatus status, int bytes)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var nbl = Nbl(request == "Disconnect" ? 20 : 100);
        Issue(rig.Checker, request, Ctx(tree.T1), nbl);

        Done(nbl, status, bytes);
        if (request == "Send") rig.TargetSide.TcpOffloadSendComplete(nbl);
        else if (request == "Receive") rig.TargetSide.TcpOffloadReceiveComplete(nbl);
        else rig.TargetSide.TcpOffloadDisconnectComplete(nbl);

        rig.Only(ContractRule.CompletionByteCount);
    }

    [Theory]
    [InlineData(40, 10, false)]
    [InlineData(40, 0, true)]
    [InlineData(0, 0, true)]
    public void Only_one_send_per_completion_may_be_partial_and_later_ones_fail_empty(int firstBytes, int secondBytes, bool clean)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var chain = Chain(3);
        rig.Checker.TcpOffloadSend(Ctx(tree.T1), chain);
        Done(chain, NdisStatus.UploadInProgress, firstBytes);
        Done(chain.Next!, NdisStatus.UploadInProgress, secondBytes);
        Done(chain.Next!.Next!, NdisStatus.UploadInProgress, 0);

        rig.TargetSide.TcpOffloadSendComplete(chain);

        if (clean) rig.AssertClean();
        else rig.Only(ContractRule.CompletionByteCount);
    }

    [Theory]
    [InlineData(NdisStatus.UploadInProgress, 40)]
    [InlineData(NdisStatus.RequestAborted, 0)]
    public void A_failed_send_may_report_fewer_bytes(NdisStatus status, int bytes)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var nbl = Nbl();
        rig.Checker.TcpOffloadSend(Ctx(tree.T1), nbl);
        rig.TargetSide.TcpOffloadSendComplete(Done(nbl, status, bytes));
        rig.AssertClean();
    }

    [Fact]
    public void A_disconnect_completing_before_earlier_sends_is_reported()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var send = Nbl();
        var fin = Nbl(0, 9);
        rig.Checker.TcpOffloadSend(Ctx(tree.T1), send);
        rig.Checker.TcpOffloadDisconnect(Ctx(tree.T1), fin, TcpDisconnectFlags.Graceful);

        rig.TargetSide.TcpOffloadDisconnectComplete(Done(fin));

        var v = rig.Only(ContractRule.DisconnectBeforeEarlierSends);
        Assert.Equal(9UL, v.RequestId);
        Assert.Equal(Ctx(tree.T1), v.Context);
        Assert.Equal(tree.T1.NdisOffloadHandle, v.Handle);
    }

    [Fact]
    public void A_terminate_completing_with_io_outstanding_is_reported_and_a_later_completion_too()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var post = Nbl();
        rig.Checker.TcpOffloadReceive(Ctx(tree.T1), post);
        var terminate = SampleTree.Existing(tree.T1);
        rig.Checker.TerminateOffload(terminate);

        rig.TargetSide.TerminateOffloadComplete(terminate);
        rig.Only(ContractRule.TerminateWithOutstandingIo);

        rig.TargetSide.TcpOffloadReceiveComplete(Done(post, NdisStatus.RequestAborted, 0));
        rig.Only(ContractRule.CompletionAfterTerminate, before: 1);
    }

    [Fact]
    public void Sends_returned_in_the_terminate_block_are_not_outstanding()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var sends = Chain(3);
        rig.Checker.TcpOffloadSend(Ctx(tree.T1), sends);
        var terminate = SampleTree.Existing(tree.T1);
        rig.Checker.TerminateOffload(terminate);

        // The first send completed, the other two handed back in order (spec §5 "at terminate").
        var rest = sends.Next!;
        sends.Next = null;
        rig.TargetSide.TcpOffloadSendComplete(Done(sends));
        terminate.NetBufferListChain = rest;
        rig.TargetSide.TerminateOffloadComplete(terminate);

        rig.AssertClean();
        Assert.Equal(0, rig.Checker.TrackedNblCount);
        rig.Checker.TcpOffloadSend(Ctx(tree.T2), rest); // the host owns them again
        rig.AssertClean();
    }

    [Fact]
    public void Sends_returned_at_terminate_out_of_order_are_reported()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var sends = Chain(2);
        rig.Checker.TcpOffloadSend(Ctx(tree.T1), sends);
        var terminate = SampleTree.Existing(tree.T1);
        rig.Checker.TerminateOffload(terminate);

        var second = sends.Next!;
        sends.Next = null;
        second.Next = sends;
        terminate.NetBufferListChain = second;
        rig.TargetSide.TerminateOffloadComplete(terminate);

        rig.Only(ContractRule.CompletionOutOfOrder);
    }

    [Theory]
    [InlineData("partial status outside initiate")]
    [InlineData("pending status")]
    [InlineData("placeholder not success")]
    [InlineData("failed block with context written")]
    [InlineData("succeeded block without context")]
    [InlineData("ImReserved changed")]
    public void An_inconsistent_tree_completion_is_reported(string variant)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        OffloadBlock root;
        switch (variant)
        {
            case "partial status outside initiate":
            case "pending status":
            case "ImReserved changed":
                root = SampleTree.Existing(tree.T1);
                rig.Checker.UpdateOffload(root);
                root.Status = variant == "partial status outside initiate" ? NdisStatus.OffloadPartialSuccess
                    : variant == "pending status" ? NdisStatus.Pending : NdisStatus.Success;
                if (variant == "ImReserved changed") root.ImReserved = new object();
                rig.TargetSide.UpdateOffloadComplete(root);
                break;
            case "placeholder not success":
                // Placeholder neighbour over a linker path with one new connection.
                root = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { NdisOffloadHandle = 0 };
                var linker = SampleTree.Existing(tree.P1);
                var fresh = NewTcp(0x301);
                root.AddDependent(linker);
                linker.AddDependent(fresh);
                rig.Checker.InitiateOffload(root);
                fresh.MiniportOffloadContext!.Context = 0xA001;
                root.Status = NdisStatus.Failure;
                rig.TargetSide.InitiateOffloadComplete(root);
                break;
            default:
                var linker2 = SampleTree.Existing(tree.P1);
                var fresh2 = NewTcp(0x302);
                linker2.AddDependent(fresh2);
                rig.Checker.InitiateOffload(linker2);
                if (variant == "failed block with context written")
                {
                    fresh2.Status = NdisStatus.OffloadTcpEntries;
                    fresh2.MiniportOffloadContext!.Context = 0xA002;
                    linker2.Status = NdisStatus.Failure;
                }
                rig.TargetSide.InitiateOffloadComplete(linker2);
                break;
        }
        rig.Only(ContractRule.InvalidTreeCompletion);
    }

    [Theory]
    [InlineData("unknown handle")]
    [InlineData("terminated connection")]
    [InlineData("tcp event on a neighbour")]
    [InlineData("neighbour event on a connection")]
    [InlineData("receive indication on unknown handle")]
    public void An_indication_for_an_object_not_offloaded_is_reported(string variant)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        switch (variant)
        {
            case "unknown handle":
                rig.TargetSide.TcpOffloadEvent(0xBAD, TcpOffloadEventType.Retrieve, (uint)TcpUploadReason.LowActivity);
                break;
            case "terminated connection":
                rig.Checker.TerminateOffload(SampleTree.Existing(tree.T1));
                rig.Run();
                rig.AssertClean();
                rig.TargetSide.TcpOffloadEvent(tree.T1.NdisOffloadHandle, TcpOffloadEventType.Abort, 0);
                break;
            case "tcp event on a neighbour":
                rig.TargetSide.TcpOffloadEvent(tree.N1.NdisOffloadHandle, TcpOffloadEventType.Retrieve, 1);
                break;
            case "neighbour event on a connection":
                rig.TargetSide.NeighborOffloadEvent(new OffloadBlock(OffloadBlockType.NeighborOffloadState) { NdisOffloadHandle = tree.T1.NdisOffloadHandle },
                    NeighborEventCode.Query);
                break;
            default:
                rig.TargetSide.TcpOffloadReceiveIndicate(0xBAD, Nbl(), NdisStatus.Success, out _);
                break;
        }
        rig.Only(ContractRule.IndicationOnUnknownObject);
    }

    [Fact]
    public async Task Events_and_neighbour_queries_on_live_objects_are_clean()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.TargetSide.TcpOffloadEvent(tree.T1.NdisOffloadHandle, TcpOffloadEventType.SendBacklogChange, 65536);
        rig.TargetSide.TcpOffloadEvent(tree.T2.NdisOffloadHandle, TcpOffloadEventType.Retrieve, (uint)TcpUploadReason.UploadRequested);
        var neighbour = rig.Target.IndicateNeighborQueryAsync(Ctx(tree.N1), 5);
        rig.Run();
        await neighbour;
        rig.AssertClean();
    }

    [Fact]
    public void Data_indicated_before_the_initiate_completion_returned_is_reported()
    {
        var rig = new CheckerRig();
        rig.Target.AutoComplete = false;
        var tree = new SampleTree(0x200).WithState();
        rig.Checker.InitiateOffload(tree.Root);

        rig.TargetSide.TcpOffloadReceiveIndicate(tree.T1.NdisOffloadHandle, Nbl(), NdisStatus.Success, out _);

        rig.Only(ContractRule.IndicationBeforeInitiateCompleted);
    }

    [Fact]
    public void A_receive_indication_with_a_status_other_than_success_is_reported()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.TargetSide.TcpOffloadReceiveIndicate(tree.T1.NdisOffloadHandle, Nbl(), NdisStatus.Resources, out _);
        rig.Only(ContractRule.IndicationStatusNotSuccess);
    }

    [Fact]
    public void Indicating_again_while_a_post_the_target_had_is_outstanding_is_reported()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        rig.Checker.TcpOffloadReceive(Ctx(tree.T1), Nbl());
        // The first indication may have been decided before the post arrived; by the second the target had it.
        rig.Indicate(Ctx(tree.T1), Nbl(50, 1));
        rig.AssertClean();

        rig.Indicate(Ctx(tree.T1), Nbl(50, 2));

        rig.Only(ContractRule.IndicationWhilePostsAvailable);
    }

    [Fact]
    public void Indications_while_only_zero_byte_posts_are_outstanding_are_clean()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        rig.Checker.TcpOffloadReceive(Ctx(tree.T1), Nbl(0));
        rig.Indicate(Ctx(tree.T1), Nbl(50, 1));
        rig.Indicate(Ctx(tree.T1), Nbl(50, 2));
        rig.AssertClean();
    }

    [Fact]
    public void Indicating_after_a_refusal_without_a_new_post_is_reported_and_a_post_rearms()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Host.IndicateAnswer = (_, _) => (NdisStatus.OffloadDataNotAccepted, 0);
        var data = Nbl();
        rig.Indicate(Ctx(tree.T1), data);
        rig.AssertClean();

        rig.Indicate(Ctx(tree.T1), data);
        rig.Only(ContractRule.IndicationAfterRefusal);

        rig.Checker.TcpOffloadReceive(Ctx(tree.T1), Nbl(0)); // zero-byte post re-arms (spec §3)
        rig.Run();
        rig.Indicate(Ctx(tree.T1), data);
        rig.Only(ContractRule.IndicationAfterRefusal);
    }

    [Theory]
    [InlineData("indication inside an indication")]
    [InlineData("receive completion inside an indication")]
    public void Overlapping_receive_deliveries_on_one_connection_are_reported(string variant)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var post = Nbl(0);
        if (variant != "indication inside an indication") rig.Checker.TcpOffloadReceive(Ctx(tree.T1), post);
        bool nested = false;
        rig.Host.IndicateAnswer = (handle, nbl) =>
        {
            if (!nested)
            {
                nested = true;
                if (variant == "indication inside an indication") rig.TargetSide.TcpOffloadReceiveIndicate(handle, Nbl(10, 7), NdisStatus.Success, out _);
                else rig.TargetSide.TcpOffloadReceiveComplete(Done(post));
            }
            return (NdisStatus.Success, (int)nbl.DataLength);
        };

        rig.Indicate(Ctx(tree.T1), Nbl());

        rig.Only(ContractRule.ReceiveDeliveryOverlap);
    }

    [Fact]
    public void Deliveries_on_different_connections_may_overlap()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        bool nested = false;
        rig.Host.IndicateAnswer = (handle, nbl) =>
        {
            if (!nested)
            {
                nested = true;
                rig.TargetSide.TcpOffloadReceiveIndicate(tree.T2.NdisOffloadHandle, Nbl(10, 7), NdisStatus.Success, out _);
            }
            return (NdisStatus.Success, (int)nbl.DataLength);
        };
        rig.Indicate(Ctx(tree.T1), Nbl());
        rig.AssertClean();
    }

    [Fact]
    public void The_peer_fin_indicated_while_refused_data_is_held_is_reported()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Host.IndicateAnswer = (_, _) => (NdisStatus.OffloadDataNotAccepted, 0);
        rig.Indicate(Ctx(tree.T1), Nbl());

        rig.TargetSide.TcpOffloadEvent(tree.T1.NdisOffloadHandle, TcpOffloadEventType.Disconnect, 0);

        rig.Only(ContractRule.DisconnectIndicatedBeforeDataConsumed);
    }

    [Fact]
    public void The_peer_fin_after_the_held_data_went_into_a_post_is_clean()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        rig.Host.IndicateAnswer = (_, _) => (NdisStatus.OffloadDataPartiallyAccepted, 30);
        rig.Indicate(Ctx(tree.T1), Nbl()); // 70 bytes left with the target
        var post = Nbl(70);
        rig.Checker.TcpOffloadReceive(Ctx(tree.T1), post);
        rig.TargetSide.TcpOffloadReceiveComplete(Done(post));

        rig.TargetSide.TcpOffloadEvent(tree.T1.NdisOffloadHandle, TcpOffloadEventType.Disconnect, 0);

        rig.AssertClean();
    }

    [Theory]
    [InlineData("indication")]
    [InlineData("receive completion")]
    public void Data_after_the_peer_fin_is_reported(string variant)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var post = Nbl();
        if (variant == "receive completion") rig.Checker.TcpOffloadReceive(Ctx(tree.T1), post);
        rig.TargetSide.TcpOffloadEvent(tree.T1.NdisOffloadHandle, TcpOffloadEventType.Disconnect, 0);

        if (variant == "indication") rig.Indicate(Ctx(tree.T1), Nbl());
        else rig.TargetSide.TcpOffloadReceiveComplete(Done(post));

        rig.Only(ContractRule.DataAfterDisconnectIndicated);
    }

    [Fact]
    public void Indicating_an_nbl_the_host_still_holds_is_reported()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        var data = Nbl();
        rig.Indicate(Ctx(tree.T1), data);
        rig.Indicate(Ctx(tree.T1), data);
        rig.Only(ContractRule.IndicationNblInUse);
    }

    [Theory]
    [InlineData("advanced by the bytes", 60, 60, 0, false)]
    [InlineData("nothing placed, not advanced", 0, 0, 0, false)]
    [InlineData("not advanced", 60, 0, 0, true)]
    [InlineData("advanced too far", 40, 60, 0, true)]
    [InlineData("advanced too little", 60, 59, 0, true)]
    [InlineData("window end moved", 60, 60, 10, true)]
    public void A_receive_completion_must_advance_the_data_start_by_exactly_the_bytes_placed(string variant, int placed, int advance, int shrink, bool violation)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var post = Nbl(100, id: 5);
        post[0].SetData(20, 80); // a host may post any window of its buffer
        rig.Checker.TcpOffloadReceive(Ctx(tree.T1), post);

        post.Status = NdisStatus.Success;
        post.TcpOffloadBytesTransferred = placed;
        post[0].Advance(advance);
        if (shrink > 0) post[0].SetData(post[0].DataOffset, post[0].DataLength - shrink);
        rig.TargetSide.TcpOffloadReceiveComplete(post);

        if (!violation)
        {
            rig.AssertClean();
            return;
        }
        var v = rig.Only(ContractRule.ReceiveCompletionNotAdvanced);
        Assert.Equal(5UL, v.RequestId);
        Assert.Equal(ContractSide.Target, v.Side);
        Assert.Contains(variant == "window end moved" ? "window's end moved" : $"moved by {advance}", v.Message);
    }

    [Fact]
    public void A_receive_completion_over_several_nbs_is_checked_on_the_sum_and_failed_posts_too()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var two = new NetBufferList(2, 1) { RequestId = 7 };
        two.AddBuffer().AddWritableSegment(new byte[30]);
        two.AddBuffer().AddWritableSegment(new byte[30]);
        var aborted = Nbl(50, id: 8);
        rig.Checker.TcpOffloadReceive(Ctx(tree.T1), Chain2(two, aborted));

        two.Next = null;
        rig.TargetSide.TcpOffloadReceiveComplete(Done(two, NdisStatus.Success, 45)); // 30 + 15
        rig.AssertClean();
        Assert.Equal((30, 15), (two[0].DataOffset, two[1].DataOffset));

        // REQUEST_ABORTED still reports (and advances past) the valid bytes; here it claims 10 and moved none.
        aborted.Status = NdisStatus.RequestAborted;
        aborted.TcpOffloadBytesTransferred = 10;
        rig.TargetSide.TcpOffloadReceiveComplete(aborted);
        Assert.Equal(8UL, rig.Only(ContractRule.ReceiveCompletionNotAdvanced).RequestId);
    }

    private static NetBufferList Chain2(NetBufferList a, NetBufferList b)
    {
        a.Next = b;
        return a;
    }

    // ---------- host side ----------

    [Theory]
    [InlineData(0, 0, false)]
    [InlineData(10, 10, false)]
    [InlineData(10, 25, false)]
    [InlineData(10, 0, true)]
    [InlineData(-1, 5, true)]
    public void A_pre_filled_post_must_have_its_pre_filled_bytes_before_the_data_start(int prefilled, int dataOffset, bool violation)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var post = Nbl(100, id: 4);
        post[0].SetData(dataOffset, 100 - dataOffset);
        post.TcpReceiveBytesTransferred = prefilled;
        rig.Checker.TcpOffloadReceive(Ctx(tree.T1), post);
        if (violation) Assert.Equal(4UL, rig.Only(ContractRule.ReceivePostPrefillInvalid).RequestId);
        else rig.AssertClean();
    }


    [Theory]
    [InlineData("Send")]
    [InlineData("Receive")]
    [InlineData("Disconnect")]
    [InlineData("Forward")]
    public void Io_on_a_context_never_offloaded_is_reported(string request)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        Issue(rig.Checker, request, 0xDEAD, Nbl(request == "Disconnect" ? 0 : 100));
        rig.Run();
        var v = rig.Only(ContractRule.IoOnUnknownConnection);
        Assert.Equal(0xDEADUL, v.Context);

        Issue(rig.Checker, request, Ctx(tree.P1), Nbl(0)); // a path is no connection
        rig.Run();
        Assert.All(rig.Checker.Violations, x => Assert.Equal(ContractRule.IoOnUnknownConnection, x.Rule));
        Assert.Equal(2, rig.Checker.ViolationCount);
    }

    [Fact]
    public void Io_on_a_terminated_connection_is_reported()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Checker.TerminateOffload(SampleTree.Existing(tree.T1));
        rig.Run();
        rig.AssertClean();
        rig.Checker.TcpOffloadSend(Ctx(tree.T1), Nbl());
        rig.Only(ContractRule.IoOnUnknownConnection);
    }

    [Theory]
    [InlineData("Send")]
    [InlineData("Receive")]
    [InlineData("Disconnect")]
    [InlineData("Forward")]
    public void Io_after_the_terminate_was_issued_is_reported(string request)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        rig.Checker.TerminateOffload(SampleTree.Existing(tree.T1));
        Issue(rig.Checker, request, Ctx(tree.T1), Nbl(0));
        rig.Only(ContractRule.IoAfterTerminate);
    }

    [Theory]
    [InlineData("posted twice")]
    [InlineData("indicated nbl posted")]
    [InlineData("cycle")]
    [InlineData("initiate send data")]
    public void Posting_an_nbl_the_target_still_owns_is_reported(string variant)
    {
        var rig = new CheckerRig(variant == "cycle" ? ContractCheckerMode.Throw : ContractCheckerMode.Record);
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var nbl = Nbl();
        switch (variant)
        {
            case "posted twice":
                rig.Checker.TcpOffloadSend(Ctx(tree.T1), nbl);
                rig.Checker.TcpOffloadSend(Ctx(tree.T2), nbl);
                break;
            case "indicated nbl posted":
                rig.Indicate(Ctx(tree.T1), nbl);
                rig.Checker.TcpOffloadReceive(Ctx(tree.T1), nbl);
                break;
            case "cycle":
                var other = Nbl(10, 2);
                nbl.Next = other;
                other.Next = nbl;
                Assert.Throws<ContractViolationException>(() => rig.Checker.TcpOffloadSend(Ctx(tree.T1), nbl));
                break;
            default:
                rig.Checker.TcpOffloadSend(Ctx(tree.T1), nbl);
                var linker = SampleTree.Existing(tree.P1);
                var fresh = NewTcp(0x300);
                fresh.NetBufferListChain = nbl;
                linker.AddDependent(fresh);
                rig.Checker.InitiateOffload(linker);
                break;
        }
        rig.Only(ContractRule.NblStillOwned);
    }

    [Fact]
    public void Send_data_handed_over_at_initiate_completes_like_sends()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        var handed = Chain(2);
        var linker = SampleTree.Existing(tree.P1);
        var fresh = NewTcp(0x300);
        fresh.NetBufferListChain = handed;
        linker.AddDependent(fresh);
        rig.Checker.InitiateOffload(linker);
        rig.Run();
        rig.Target.AutoComplete = false;
        rig.Checker.TcpOffloadSend(Ctx(fresh), Nbl(10, 3));
        rig.TargetSide.TcpOffloadSendComplete(Done(handed.Next!));
        rig.Only(ContractRule.CompletionOutOfOrder); // the handed-over data comes first (spec §5)
    }

    [Fact]
    public void Returning_an_indicated_nbl_twice_is_reported()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        var data = Nbl();
        rig.Indicate(Ctx(tree.T1), data);
        rig.Checker.TcpOffloadReceiveReturn(data);
        rig.AssertClean();

        rig.Checker.TcpOffloadReceiveReturn(data);

        rig.Only(ContractRule.ReceiveReturnTwice);
    }

    [Theory]
    [InlineData("never indicated")]
    [InlineData("refused indication")]
    [InlineData("a send")]
    public void Returning_an_nbl_never_indicated_to_the_host_is_reported(string variant)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var nbl = Nbl();
        if (variant == "refused indication")
        {
            rig.Host.IndicateAnswer = (_, _) => (NdisStatus.OffloadDataNotAccepted, 0);
            rig.Indicate(Ctx(tree.T1), nbl);
        }
        else if (variant == "a send")
        {
            rig.Checker.TcpOffloadSend(Ctx(tree.T1), nbl);
        }

        rig.Checker.TcpOffloadReceiveReturn(nbl);

        rig.Only(ContractRule.ReceiveReturnUnknown);
    }

    [Fact]
    public void Buffered_data_handed_back_at_terminate_is_returned_by_the_host()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        var terminate = SampleTree.Existing(tree.T1);
        rig.Checker.TerminateOffload(terminate);
        var buffered = Chain(2);
        terminate.TcpDelegated = new TcpDelegatedState { BufferedData = buffered };
        rig.TargetSide.TerminateOffloadComplete(terminate);

        rig.Checker.TcpOffloadReceiveReturn(buffered);

        rig.AssertClean();
        Assert.Equal(0, rig.Checker.TrackedNblCount);
    }

    [Theory]
    [InlineData("handle of a live object")]
    [InlineData("block of a pending operation")]
    [InlineData("slot changed before terminate")]
    public void Reusing_block_state_the_target_still_owns_is_reported(string variant)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        switch (variant)
        {
            case "handle of a live object":
                var linker = SampleTree.Existing(tree.P1);
                linker.AddDependent(NewTcp(tree.T1.NdisOffloadHandle));
                rig.Checker.InitiateOffload(linker);
                break;
            case "block of a pending operation":
                var query = SampleTree.Existing(tree.T1);
                rig.Checker.QueryOffloadState(query);
                rig.Checker.QueryOffloadState(query);
                break;
            default:
                var terminate = SampleTree.Existing(tree.T1);
                tree.T1.MiniportOffloadContext!.Context = 0x999;
                rig.Checker.TerminateOffload(terminate);
                break;
        }
        rig.Only(ContractRule.BlockStateReused);
    }

    [Fact]
    public void A_handle_may_be_reused_once_the_terminate_completed()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Checker.TerminateOffload(SampleTree.Existing(tree.T1));
        rig.Run();
        var linker = SampleTree.Existing(tree.P1);
        linker.AddDependent(NewTcp(tree.T1.NdisOffloadHandle));
        rig.Checker.InitiateOffload(linker);
        rig.Run();
        rig.AssertClean();
    }

    [Theory]
    [InlineData("dependent of a tcp block")]
    [InlineData("undefined type")]
    [InlineData("cycle")]
    [InlineData("new offload outside initiate")]
    [InlineData("new offload without state")]
    [InlineData("mixed layers on the top chain")]
    public void A_malformed_tree_is_reported(string variant)
    {
        // A cyclic tree must not reach the scripted target, which would walk it forever: Throw mode keeps it above.
        var rig = new CheckerRig(variant == "cycle" ? ContractCheckerMode.Throw : ContractCheckerMode.Record);
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        switch (variant)
        {
            case "dependent of a tcp block":
                var linker = SampleTree.Existing(tree.P1);
                var fresh = NewTcp(0x300);
                fresh.DependentBlockList = new OffloadBlock(OffloadBlockType.Ip4OffloadState); // a placeholder path under a TCP block
                linker.AddDependent(fresh);
                rig.Checker.InitiateOffload(linker);
                break;
            case "undefined type":
                var odd = SampleTree.Existing(tree.T1);
                odd.Type = OffloadBlockType.TcpOffloadResourceState;
                rig.Checker.QueryOffloadState(odd);
                break;
            case "cycle":
                var loop = SampleTree.Existing(tree.T1);
                loop.NextBlock = loop;
                Assert.Throws<ContractViolationException>(() => rig.Checker.QueryOffloadState(loop));
                Assert.DoesNotContain(rig.Target.Calls, c => c.Name == "Query");
                break;
            case "new offload outside initiate":
                rig.Checker.UpdateOffload(NewTcp(0x300));
                break;
            case "new offload without state":
                var linker2 = SampleTree.Existing(tree.P1);
                linker2.AddDependent(SampleTree.Make(OffloadBlockType.TcpOffloadState, 0x300));
                rig.Checker.InitiateOffload(linker2);
                break;
            default:
                var top = SampleTree.Existing(tree.T1);
                top.NextBlock = SampleTree.Existing(tree.P1);
                rig.Checker.QueryOffloadState(top);
                break;
        }
        rig.Only(ContractRule.MalformedTree);
    }

    [Theory]
    [InlineData("terminate twice")]
    [InlineData("second concurrent update")]
    [InlineData("terminate while a query is pending")]
    [InlineData("update after invalidate")]
    [InlineData("unknown context")]
    [InlineData("path with live connections")]
    public void A_state_operation_on_an_unavailable_object_is_reported(string variant)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = variant == "update after invalidate";
        switch (variant)
        {
            case "terminate twice":
                rig.Checker.TerminateOffload(SampleTree.Existing(tree.T1));
                rig.Checker.TerminateOffload(SampleTree.Existing(tree.T1));
                break;
            case "second concurrent update":
                rig.Checker.UpdateOffload(SampleTree.Existing(tree.T1));
                rig.Checker.UpdateOffload(SampleTree.Existing(tree.T1));
                break;
            case "terminate while a query is pending":
                rig.Checker.QueryOffloadState(SampleTree.Existing(tree.T1));
                rig.Checker.TerminateOffload(SampleTree.Existing(tree.T1));
                break;
            case "update after invalidate":
                rig.Checker.InvalidateOffload(SampleTree.Existing(tree.T1));
                rig.Run();
                rig.Checker.UpdateOffload(SampleTree.Existing(tree.T1));
                rig.Run();
                break;
            case "path with live connections":
                var path = SampleTree.Existing(tree.P1);
                path.AddDependent(SampleTree.Existing(tree.T1)); // T2 stays offloaded under it
                rig.Checker.TerminateOffload(path);
                break;
            default:
                var ghost = SampleTree.Existing(tree.T1);
                ghost.MiniportOffloadContext!.Context = 0x4242;
                rig.Checker.QueryOffloadState(ghost);
                break;
        }
        rig.Only(ContractRule.StateOperationOnUnavailableObject);
    }

    [Fact]
    public void A_neighbour_may_be_terminated_once_its_paths_moved_away_by_an_update()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        var n2 = new SampleTree(0x200).WithState().N1;
        n2.DependentBlockList = null;
        rig.Checker.InitiateOffload(n2);
        rig.Run();
        var relink = SampleTree.Existing(n2);
        relink.AddDependent(SampleTree.Existing(tree.P2)); // P2 now hangs under N2 (spec §6.7)
        rig.Checker.UpdateOffload(relink);
        rig.Run();
        var p1 = SampleTree.Existing(tree.P1);
        p1.AddDependent(SampleTree.Existing(tree.T1)).AddDependent(SampleTree.Existing(tree.T2));
        rig.Checker.TerminateOffload(p1);
        rig.Run();

        rig.Checker.TerminateOffload(SampleTree.Existing(tree.N1));
        rig.Run();
        rig.AssertClean();

        rig.Checker.TerminateOffload(SampleTree.Existing(n2));
        rig.Only(ContractRule.StateOperationOnUnavailableObject);
    }

    [Fact]
    public void Overlapping_queries_are_allowed()
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Target.AutoComplete = false;
        rig.Checker.QueryOffloadState(SampleTree.Existing(tree.T1));
        rig.Checker.QueryOffloadState(SampleTree.Existing(tree.T1));
        rig.Target.CompleteHeld();
        rig.Run();
        rig.AssertClean();
    }

    [Theory]
    [InlineData(NdisStatus.OffloadDataPartiallyAccepted, 0)]
    [InlineData(NdisStatus.OffloadDataPartiallyAccepted, 100)]
    [InlineData(NdisStatus.OffloadDataNotAccepted, 5)]
    [InlineData(NdisStatus.Success, 101)]
    [InlineData(NdisStatus.Pending, 0)]
    public void An_invalid_answer_to_a_receive_indication_is_reported(NdisStatus answer, int consumed)
    {
        var rig = new CheckerRig();
        var tree = rig.Offload();
        rig.Host.IndicateAnswer = (_, _) => (answer, consumed);
        rig.Indicate(Ctx(tree.T1), Nbl());
        rig.Only(ContractRule.IndicationAnswerInvalid);
    }
}
