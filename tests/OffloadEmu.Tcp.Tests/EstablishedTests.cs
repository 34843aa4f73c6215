using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>RFC 9293 §3.10.7.4 in ESTABLISHED: acceptability, RST/SYN/ACK checks, data, ACK generation.</summary>
public class EstablishedTests
{
    private static TcpRepr Data(int offset) => SendTemplate with { SequenceNumber = RemoteSeq + 1 + offset, AckNumber = LocalSeq + 1 };

    private static TcpRepr Ack(int remoteOffset, SeqNumber ack, ushort window = BufferSize)
        => RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 + remoteOffset, Window = window } with { AckNumber = ack };

    // ---- receiving ----------------------------------------------------------------------------------------------------

    [Fact]
    public void InOrderData_IsAckedEverySecondSegment()
    {
        var h = Established();
        h.Send(Data(0), "abcdef");
        h.ExpectNothing();
        h.Send(Data(6), "ghi");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 10, Window = BufferSize - 9 });
        Assert.Equal("abcdefghi", h.ReadAll());
    }

    [Fact]
    public void DelayedAck_FiresAfterDelayedAckTicks()
    {
        var h = Established();
        h.Send(Data(0), "abcdef");
        h.ExpectNothing();
        Assert.Equal(h.Now.AddMicroseconds(200_000), h.M.PollAt());
        h.Advance(199);
        h.ExpectNothing();
        h.Advance(1);
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 7, Window = BufferSize - 6 });
    }

    [Fact]
    public void AckFrequencyOne_AcksEverySegment()
    {
        var h = Established(Config(c => new TcpConfig { Timestamps = false, WindowScaling = false, ReceiveBufferSize = BufferSize, AckFrequency = 1, IsnGenerator = c.IsnGenerator }));
        h.Send(Data(0), "abc");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 4, Window = BufferSize - 3 });
    }

    [Fact]
    public void OutOfOrderData_IsAckedAtOnce_AndHoleFillDeliversOnceInOrder()
    {
        var h = Established();
        h.Send(Data(3), "def");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        Assert.Equal(1, h.M.OutOfOrderRanges);
        h.Send(Data(6), "ghi");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        h.Send(Data(0), "abc");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 10, Window = BufferSize - 9 });
        Assert.Equal("abcdefghi", h.ReadAll());
        Assert.Equal(0, h.M.OutOfOrderRanges);
    }

    [Fact]
    public void DuplicateAndOverlappingData_IsDeliveredExactlyOnce()
    {
        var h = Established();
        var consumer = new RecordingConsumer();
        h.M.ReceiveConsumer = consumer;
        h.Send(Data(0), "abcd");
        h.Send(Data(0), "abcd");      // duplicate: unacceptable? no, it is a retransmission inside RCV.NXT → trimmed
        h.Send(Data(2), "cdefgh");    // overlaps the left edge
        h.Send(Data(10), "klm");      // out of order
        h.Send(Data(8), "ijklmn");    // fills the hole and overlaps the island
        Assert.Equal("abcdefghijklmn", System.Text.Encoding.ASCII.GetString(consumer.Data.ToArray()));
        Assert.Equal(RemoteSeq + 15, h.M.RcvNxt);
        Assert.True(h.M.Statistics.DuplicateBytes >= 2);
        Assert.Equal(1ul, h.M.Statistics.OutOfWindowSegments);
    }

    [Fact]
    public void SegmentBeyondTheWindow_IsAnsweredWithAckAndDropped()
    {
        var h = Established();
        h.Send(Data(BufferSize + 10), "xyz");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        Assert.Equal(0, h.M.OutOfOrderRanges);
        Assert.Equal(1ul, h.M.Statistics.OutOfWindowSegments);
    }

    [Fact]
    public void OldSegment_IsAnsweredWithAck()
    {
        var h = Established();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq - 10, AckNumber = LocalSeq + 1 }, "old");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
    }

    [Fact]
    public void DataStraddlingTheRightEdge_IsTrimmed()
    {
        var h = Established();
        var payload = new byte[BufferSize + 100];
        Array.Fill(payload, (byte)'x');
        h.Send(Data(0), payload);
        Assert.Equal(RemoteSeq + 1 + BufferSize, h.M.RcvNxt);
        Assert.Equal(BufferSize, h.M.ReceiveBufferedBytes);
        Assert.Equal(0u, h.M.RcvWnd);
    }

    [Fact]
    public void ZeroWindow_DataIsNotAccepted_ButItsAckIsProcessed()
    {
        var h = Established();
        h.Send(Data(0), new byte[BufferSize]);
        h.Recv();
        Assert.Equal(0u, h.M.RcvWnd);
        var buffer = h.Enqueue("hello");
        h.Recv();
        // Data at RCV.NXT with a zero window: not accepted, but the ACK of our data is (MUST-66).
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1 + BufferSize, AckNumber = LocalSeq + 6 }, "more");
        Assert.Equal(LocalSeq + 6, h.M.SndUna);
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 6, AckNumber = RemoteSeq + 1 + BufferSize, Window = 0 });
        Assert.Equal(BufferSize, h.M.ReceiveBufferedBytes);
        _ = buffer;
    }

    [Fact]
    public void ReceiveWindow_ReopensOnlyBySignificantSteps()
    {
        var h = Established();
        h.Send(Data(0), new byte[BufferSize]);
        h.Recv();
        Assert.Equal(0u, h.M.RcvWnd);
        // Reading a few bytes does not open the window (receiver SWS avoidance, MUST-39).
        h.M.Receive(new byte[100]);
        h.ExpectNothing();
        // Reading an MSS worth does, with a window update.
        h.M.Receive(new byte[1400]);
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 + BufferSize, Window = 1500 });
    }

    [Fact]
    public void Consumer_TakingPart_LeavesTheRestBufferedAndShrinksTheWindow()
    {
        var h = Established();
        var consumer = new RecordingConsumer { Room = 2 };
        h.M.ReceiveConsumer = consumer;
        h.Send(Data(0), "abcdef");
        h.Send(Data(6), "gh");
        Assert.Equal("ab", System.Text.Encoding.ASCII.GetString(consumer.Data.ToArray()));
        Assert.Equal(6, h.M.ReceiveBufferedBytes);
        // Receiver SWS avoidance: the edge does not move for the 2 bytes the consumer took.
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 9, Window = BufferSize - 8 });
        consumer.Room = 100;
        Assert.Equal(6, h.M.DeliverBuffered());
        Assert.Equal("abcdefgh", System.Text.Encoding.ASCII.GetString(consumer.Data.ToArray()));
    }

    [Fact]
    public void Held_bytes_count_as_buffered_keep_the_window_closed_and_come_back_in_order()
    {
        var h = Established();
        var consumer = new HoldingConsumer { HoldRoom = 4 };
        h.M.ReceiveConsumer = consumer;
        h.Send(Data(0), "abcdef");  // "abcd" held by the consumer, "ef" into the ring
        h.Send(Data(6), "gh");      // the ring is not empty: the ring, after the held bytes
        Assert.Equal("abcd", System.Text.Encoding.ASCII.GetString(consumer.HeldData.ToArray()));
        Assert.Equal(8, h.M.ReceiveBufferedBytes);
        Assert.Equal(4, h.M.ReceiveHeldBytes);
        // Held bytes take window space like ring bytes.
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 9, Window = BufferSize - 8 });
        Assert.Equal(0, h.M.DeliverBuffered()); // the held bytes go first
        Assert.Throws<ArgumentOutOfRangeException>(() => h.M.PeekReceived(0, new byte[1]));
        var ring = new byte[4];
        Assert.Equal(4, h.M.PeekReceived(4, ring));
        Assert.Equal("efgh", System.Text.Encoding.ASCII.GetString(ring));
        h.Send(Data(10), "kl");     // out of order behind the held and ring bytes
        h.Send(Data(8), "ij");      // fills the hole
        Assert.Equal(12, h.M.ReceiveBufferedBytes);
        h.M.ConsumeReceived(2);     // "ab" taken (an indication accepted in part)
        Assert.Equal(2, h.M.ReceiveHeldBytes);
        h.M.WriteHeldBytes(0, "cd"u8); // the rest refused: back into the ring, in front
        h.M.EndHold();
        consumer.HeldData.Clear();
        consumer.Room = 100;
        Assert.Equal(10, h.M.DeliverBuffered());
        Assert.Equal("cdefghijkl", System.Text.Encoding.ASCII.GetString(consumer.Data.ToArray()));
        Assert.Equal(0, h.M.ReceiveBufferedBytes);
        Assert.False(h.M.HoldsReceiveBuffer);
    }

    [Fact]
    public void Held_bytes_consumed_open_the_window_and_the_next_bytes_take_the_fast_path_again()
    {
        var h = Established();
        var consumer = new HoldingConsumer { HoldRoom = 6 };
        h.M.ReceiveConsumer = consumer;
        h.Send(Data(0), "abcdef");
        Assert.Equal(6, h.M.ReceiveHeldBytes);
        Assert.False(h.M.HoldsReceiveBuffer); // nothing was written into the ring: no storage taken
        h.M.ConsumeReceived(6);
        consumer.HeldData.Clear();
        Assert.Equal(0, h.M.ReceiveBufferedBytes);
        consumer.Room = 100;
        h.Send(Data(6), "gh");
        Assert.Equal("gh", System.Text.Encoding.ASCII.GetString(consumer.Data.ToArray()));
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 9, Window = BufferSize - 8 }); // SWS: the edge stays for 8 bytes
    }

    [Fact]
    public void ReassemblyBound_DropsAndCountsSegmentsNeedingANewRange()
    {
        var h = Established(Config(c => new TcpConfig { Timestamps = false, WindowScaling = false, ReceiveBufferSize = BufferSize, MaxReassemblyRanges = 2, IsnGenerator = c.IsnGenerator }));
        h.Send(Data(10), "a");
        h.Send(Data(20), "b");
        h.Send(Data(30), "c");
        Assert.Equal(2, h.M.OutOfOrderRanges);
        Assert.Equal(1ul, h.M.Statistics.ReassemblyDrops);
        h.Send(Data(11), "a"); // extends an existing range: still accepted
        Assert.Equal(2, h.M.OutOfOrderRanges);
        Assert.Equal(1ul, h.M.Statistics.ReassemblyDrops);
    }

    // ---- RST, SYN, ACK checks (RFC 5961) -----------------------------------------------------------------------------

    [Fact]
    public void ExactRst_ResetsTheConnection()
    {
        var h = Established();
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 1 });
        Assert.Equal(TcpState.Closed, h.M.State);
        Assert.Equal(TcpEvents.Reset | TcpEvents.Closed, h.M.TakeEvents());
        Assert.Equal(1ul, h.M.Statistics.ResetEstablished);
        h.ExpectNothing();
    }

    [Fact]
    public void InWindowRst_GetsAChallengeAck_RateLimited()
    {
        var h = Established();
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 100 });
        Assert.Equal(TcpState.Established, h.M.State);
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        h.Advance(100);
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 200 });
        h.ExpectNothing();
        Assert.Equal(1ul, h.M.Statistics.ChallengeAcksSuppressed);
        h.Advance(500);
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 300 });
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        Assert.Equal(2ul, h.M.Statistics.ChallengeAcks);
    }

    [Fact]
    public void OutOfWindowRst_IsDroppedSilently()
    {
        var h = Established();
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 1 + BufferSize + 5 });
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq - 5 });
        Assert.Equal(TcpState.Established, h.M.State);
        h.ExpectNothing();
    }

    [Fact]
    public void Syn_GetsAChallengeAck_WhateverItsSequenceNumber()
    {
        var h = Established();
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq + 50 });
        Assert.Equal(TcpState.Established, h.M.State);
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        Assert.Equal(1ul, h.M.Statistics.ChallengeAcks);
    }

    [Fact]
    public void SegmentWithoutAck_IsDropped()
    {
        var h = Established();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1 }, "abc");
        Assert.Equal(RemoteSeq + 1, h.M.RcvNxt);
        h.ExpectNothing();
    }

    [Fact]
    public void AckOfUnsentData_IsAnsweredAndTheSegmentDropped()
    {
        var h = Established();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 100 }, "abc");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        Assert.Equal(RemoteSeq + 1, h.M.RcvNxt);
        Assert.Equal(LocalSeq + 1, h.M.SndUna);
    }

    [Fact]
    public void AckOlderThanTheMaxWindow_IsAnsweredAndTheSegmentDropped()
    {
        var h = Established();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq - 5000 }, "abc");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        Assert.Equal(RemoteSeq + 1, h.M.RcvNxt);
    }

    [Fact]
    public void OldButPlausibleAck_IsAcceptedAsDuplicate()
    {
        var h = Established();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq - 5 }, "abc");
        Assert.Equal(RemoteSeq + 4, h.M.RcvNxt);
    }

    [Fact]
    public void Urg_IsReported()
    {
        var h = Established();
        h.Send(Data(0) with { Flags = TcpFlags.Urg, UrgentPointer = 1 }, "x");
        Assert.Equal(TcpEvents.UrgentDataReceived, h.M.TakeEvents());
    }

    [Fact]
    public void ReservedBits_AreIgnored()
    {
        var h = Established();
        var repr = Data(0) with { PayloadLength = 3 };
        var bytes = new byte[repr.SegmentBufferLength];
        repr.Emit(bytes, RemoteIp, LocalIp, "abc"u8);
        Assert.True(TcpSegment.TryCreate(bytes, out var segment));
        bytes[12] |= 0x0E; // three reserved bits
        segment.FillChecksum(RemoteIp, LocalIp);
        Assert.True(h.M.ProcessSegment(bytes, h.Now));
        Assert.Equal("abc", h.ReadAll());
    }

    [Fact]
    public void IllegalOptionLength_IsDroppedAndCounted()
    {
        var h = Established();
        var repr = Data(0) with { PayloadLength = 3, Options = new TcpOptions { Timestamps = new TcpTimestamps(1, 2) } };
        var bytes = new byte[repr.SegmentBufferLength];
        repr.Emit(bytes, RemoteIp, LocalIp, "abc"u8);
        Assert.True(TcpSegment.TryCreate(bytes, out var segment));
        // nop,nop,TS(len 10) → make the TS length 0.
        int ts = 20 + 2;
        Assert.Equal(8, bytes[ts]);
        bytes[ts + 1] = 0;
        segment.FillChecksum(RemoteIp, LocalIp);
        Assert.False(h.M.ProcessSegment(bytes, h.Now));
        Assert.Equal(1ul, h.M.Statistics.InErrors);
        Assert.Equal(TcpState.Established, h.M.State);
        h.ExpectNothing();
    }

    [Fact]
    public void BadChecksum_IsDroppedAndCounted()
    {
        var h = Established();
        var repr = Data(0) with { PayloadLength = 3 };
        var bytes = new byte[repr.SegmentBufferLength];
        repr.Emit(bytes, RemoteIp, LocalIp, "abc"u8);
        bytes[^1] ^= 0x40;
        Assert.False(h.M.ProcessSegment(bytes, h.Now));
        Assert.Equal(1ul, h.M.Statistics.InErrors);
        Assert.Equal(RemoteSeq + 1, h.M.RcvNxt);
    }

    [Fact]
    public void Fin_MovesToCloseWait_AndIsAckedAtOnce()
    {
        var h = Established();
        h.Send(Data(0) with { Flags = TcpFlags.Fin }, "bye");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 5, Window = BufferSize - 3 });
        Assert.Equal(TcpState.CloseWait, h.M.State);
        Assert.Equal(TcpEvents.PeerClosed, h.M.TakeEvents());
    }

    [Fact]
    public void FinBeyondAHole_WaitsForTheMissingData()
    {
        var h = Established();
        h.Send(Data(3) with { Flags = TcpFlags.Fin }, "def");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        Assert.Equal(TcpState.Established, h.M.State);
        h.Send(Data(0), "abc");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 8, Window = BufferSize - 6 });
        Assert.Equal(TcpState.CloseWait, h.M.State);
        Assert.Equal("abcdef", h.ReadAll());
    }

    // ---- sending -----------------------------------------------------------------------------------------------------

    [Fact]
    public void Send_WritesDataWithPsh_AndCompletesTheBufferWhenAcked()
    {
        var h = Established();
        var sink = new RecordingSink();
        h.M.SendCompletionSink = sink;
        var a = h.Enqueue("abc");
        var b = h.Enqueue("defg");
        var seg = h.ExpectOne(RecvTemplate with { Flags = TcpFlags.Psh, SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1, PayloadLength = 7 });
        Assert.Equal("abcdefg", System.Text.Encoding.ASCII.GetString(seg.Payload));
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 3 });
        Assert.Empty(sink.Completed);
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 4 });
        Assert.Equal(new[] { ((ITcpSendBuffer)a, 3) }, sink.Completed);
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 8 });
        Assert.Equal(2, sink.Completed.Count);
        Assert.Same(b, sink.Completed[1].Buffer);
        Assert.Equal(Instant.MaxValue, h.M.PollAt());
    }

    [Fact]
    public void Send_SplitsIntoMssSegments_AndStopsAtThePeerWindow()
    {
        var h = Established();
        h.Enqueue(new byte[5000]);
        var segs = h.Recv();
        // The 1176 bytes left in the window are neither a full segment, the end of the queue, nor half the peer's
        // largest window: sender SWS avoidance holds them (RFC 9293 §3.8.6.2.1).
        Assert.Equal(new[] { 1460, 1460 }, segs.Select(s => s.Payload.Length));
        Assert.Equal(LocalSeq + 1 + 2920, h.M.SndNxt);
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 + 1460 });
        Assert.Equal(new[] { 1460 }, h.Recv().Select(s => s.Payload.Length));
        // The tail empties the queue but Nagle holds it while data is outstanding.
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 + 4380 });
        Assert.Equal(new[] { 620 }, h.Recv().Select(s => s.Payload.Length));
    }

    [Fact]
    public void Nagle_HoldsASmallSegmentWhileDataIsOutstanding()
    {
        var h = Established();
        h.Enqueue("abc");
        Assert.Single(h.Recv());
        h.Enqueue("def");
        h.ExpectNothing();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 4 });
        h.ExpectOne(RecvTemplate with { Flags = TcpFlags.Psh, SequenceNumber = LocalSeq + 4, AckNumber = RemoteSeq + 1, PayloadLength = 3 });
    }

    [Fact]
    public void NagleOff_SendsSmallSegmentsAtOnce()
    {
        var h = Established(Config(c => new TcpConfig { Timestamps = false, WindowScaling = false, ReceiveBufferSize = BufferSize, Nagle = false, IsnGenerator = c.IsnGenerator }));
        h.Enqueue("abc");
        Assert.Single(h.Recv());
        h.Enqueue("def");
        Assert.Single(h.Recv());
    }

    [Fact]
    public void WindowUpdate_FromAnOlderSegment_IsIgnored()
    {
        var h = Established();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1, Window = 3000 }, "ab");
        Assert.Equal(3000u, h.M.SndWnd);
        // SA-8: SEG.SEQ older than SND.WL1 → window not taken.
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1, Window = 100 });
        Assert.Equal(3000u, h.M.SndWnd);
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 3, AckNumber = LocalSeq + 1, Window = 200 });
        Assert.Equal(200u, h.M.SndWnd);
    }

    [Fact]
    public void HalfClose_PeerClosed_WeKeepSending()
    {
        var h = CloseWait();
        h.Enqueue("still here");
        var seg = h.Recv().Single();
        Assert.Equal(10, seg.Payload.Length);
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 2, AckNumber = LocalSeq + 11 });
        Assert.Equal(LocalSeq + 11, h.M.SndUna);
    }
}
