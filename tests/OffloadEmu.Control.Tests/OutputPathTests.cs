using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Tests;

/// <summary>
/// The send side of a control connection (docs/control.md, threads): messages from several threads go out whole and in
/// each thread's order through inline gathered writes, the asynchronous rest when the socket is full, and frames spread
/// over several arrays; an encoder that throws mid-message leaves nothing of it on the stream.
/// </summary>
public sealed class OutputPathTests
{
    private static (Socket A, Socket B) Pair()
    {
        string path = Path.Combine(Path.GetTempPath(), "oe-pc-out-" + Guid.NewGuid().ToString("N")[..12] + ".sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var a = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        a.Connect(new UnixDomainSocketEndPoint(path));
        var b = listener.Accept();
        File.Delete(path);
        return (a, b);
    }

    // A message whose payload (a blob of `size` bytes: the sender's number, its sequence number, then a pattern)
    // can be checked on arrival.
    private static byte[] Payload(int sender, int seq, int size)
    {
        var p = new byte[Math.Max(size, 8)];
        BinaryPrimitives.WriteInt32LittleEndian(p, sender);
        BinaryPrimitives.WriteInt32LittleEndian(p.AsSpan(4), seq);
        for (int i = 8; i < p.Length; i++) p[i] = (byte)(i * 7 + seq + sender);
        return p;
    }

    [Fact]
    public async Task Messages_from_several_threads_arrive_whole_and_in_each_threads_order_while_the_reader_lags()
    {
        var (a, b) = Pair();
        await using var sender = new MessageConnection(a, ControlProtocol.DefaultMaxMessageSize, long.MaxValue);
        sender.StartSending();
        const int threads = 4, perThread = 300;
        var sizes = new[] { 8, 100, 5_000, 16_000, 70_000, 200_000 };   // within one array, across arrays, larger than one
        long expectedBytes = 0;
        for (int t = 0; t < threads; t++)
            for (int i = 0; i < perThread; i++) expectedBytes += ControlProtocol.HeaderSize + 4 + Math.Max(sizes[(i + t) % sizes.Length], 8);

        // Writers first, reader later: the socket fills, the rest goes asynchronously, then everything drains.
        var writers = Enumerable.Range(0, threads).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < perThread; i++)
                Assert.True(sender.SendBlob(MessageType.ReceiveFrame, (ulong)t, Payload(t, i, sizes[(i + t) % sizes.Length])));
        })).ToArray();
        await Task.WhenAll(writers);

        var next = new int[threads];
        var received = new ArrayBufferWriter<byte>();
        var buffer = new byte[128 * 1024];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        long total = 0;
        while (total < expectedBytes && DateTime.UtcNow < deadline)
        {
            int n = await b.ReceiveAsync(buffer, SocketFlags.None);
            Assert.True(n > 0, "the sender closed early");
            received.Write(buffer.AsSpan(0, n));
            total += n;
        }
        Assert.Equal(expectedBytes, total);
        var seq = new ReadOnlySequence<byte>(received.WrittenMemory);
        int frames = 0;
        while (ControlMessage.TryReadFrame(ref seq, ControlProtocol.DefaultMaxMessageSize, out var type, out var id, out var payload))
        {
            Assert.Equal(MessageType.ReceiveFrame, type);
            var bytes = payload.ToArray();
            int length = BinaryPrimitives.ReadInt32LittleEndian(bytes);
            int t = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4));
            int i = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8));
            Assert.Equal((ulong)t, id);
            Assert.Equal(next[t], i);   // each thread's messages in its order
            Assert.Equal(Payload(t, i, sizes[(i + t) % sizes.Length]), bytes.AsSpan(4, length).ToArray());
            next[t]++;
            frames++;
        }
        Assert.True(seq.IsEmpty);
        Assert.Equal(threads * perThread, frames);
        for (int i = 0; i < 50 && sender.QueuedBytes != 0; i++) await Task.Delay(20);
        Assert.Equal(0, sender.QueuedBytes);
        // Batching: 1,200 messages, fewer writes (the ones queued while the socket was full went out together).
        Assert.True(sender.Writes < frames, $"{sender.Writes} writes for {frames} messages");
        b.Dispose();
    }

    /// <summary>A message that throws while it is encoded (its objects changed between the two passes).</summary>
    private sealed class Unstable(int first, int second) : ControlMessage
    {
        private int _calls;

        public override MessageType Type => MessageType.ReceiveFrame;

        public override void WritePayload(ref MessageWriter w)
        {
            int size = _calls++ == 0 ? first : second;
            w.U32((uint)size);
            w.Raw(new byte[size]);
        }
    }

    [Theory]
    [InlineData(100, 50)]          // inside one array
    [InlineData(40_000, 39_000)]   // across arrays
    public async Task A_message_that_fails_while_encoded_leaves_nothing_on_the_stream(int counted, int written)
    {
        var (a, b) = Pair();
        await using var sender = new MessageConnection(a, ControlProtocol.DefaultMaxMessageSize, long.MaxValue);
        sender.StartSending();
        Assert.True(sender.SendBlob(MessageType.ReceiveFrame, 1, Payload(0, 0, 10)));
        Assert.Throws<InvalidOperationException>(() => sender.Send(new Unstable(counted, written)));
        Assert.True(sender.SendBlob(MessageType.ReceiveFrame, 2, Payload(0, 1, 30_000)));

        long expected = 2 * (ControlProtocol.HeaderSize + 4) + 10 + 30_000;
        var received = new ArrayBufferWriter<byte>();
        var buffer = new byte[64 * 1024];
        while (received.WrittenCount < expected)
        {
            int n = await b.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(n > 0);
            received.Write(buffer.AsSpan(0, n));
        }
        Assert.Equal(expected, received.WrittenCount);
        var seq = new ReadOnlySequence<byte>(received.WrittenMemory);
        Assert.True(ControlMessage.TryReadFrame(ref seq, ControlProtocol.DefaultMaxMessageSize, out _, out var id1, out _));
        Assert.True(ControlMessage.TryReadFrame(ref seq, ControlProtocol.DefaultMaxMessageSize, out _, out var id2, out var p2));
        Assert.Equal((1UL, 2UL), (id1, id2));
        Assert.Equal(4 + 30_000, p2.Length);
        Assert.True(seq.IsEmpty);
        b.Dispose();
    }

    [Fact]
    public void Rewinding_the_queue_drops_exactly_the_failed_message()
    {
        var q = new OutputQueue();
        q.Write(new byte[] { 1, 2, 3 });
        var mark = q.Mark();
        q.Write(new byte[OutputQueue.ChunkSize * 3]);   // fills the tail and two more arrays
        q.Rewind(mark);
        q.Write(new byte[] { 4 });
        Assert.Equal(4, q.Length);
        var batch = q.Take([]);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, batch.SelectMany(s => s.ToArray()).ToArray());
        Assert.Equal(0, q.Length);
        OutputQueue.Release(batch);
        Assert.Empty(batch);
    }

    [Fact]
    public async Task Deferred_messages_of_one_completion_drain_leave_with_one_write_and_a_plain_send_writes_them_at_once()
    {
        var (a, b) = Pair();
        await using var sender = new MessageConnection(a, ControlProtocol.DefaultMaxMessageSize, long.MaxValue);
        sender.StartSending();
        var queue = new OffloadEmu.Chimney.CompletionQueue();
        using var done = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        long writesInside = -1;
        int accepted = 0;
        // Three items of one drain (the first holds the worker until all are queued) each queue an I/O message: nothing
        // is written until the drain ends, then one write.
        queue.Schedule(_ =>
        {
            gate.Wait(TimeSpan.FromSeconds(20));
            if (sender.SendDeferred(new ReceiveConsumedMessage { Context = 1, Bytes = 1 })) accepted++;
        }, null);
        queue.Schedule(_ => { if (sender.SendDeferred(new ReceiveConsumedMessage { Context = 2, Bytes = 2 })) accepted++; }, null);
        queue.Schedule(_ =>
        {
            if (sender.SendDeferred(new ReceiveConsumedMessage { Context = 3, Bytes = 3 })) accepted++;
            writesInside = sender.Writes;
            done.Set();
        }, null);
        gate.Set();
        Assert.True(done.Wait(TimeSpan.FromSeconds(20)));
        for (int i = 0; i < 200 && sender.QueuedBytes != 0; i++) await Task.Delay(10);
        Assert.Equal(3, accepted);
        Assert.Equal(0, writesInside);
        Assert.Equal(1, sender.Writes);
        Assert.Equal(0, sender.QueuedBytes);

        // Off a completion worker SendDeferred writes at once; inside an item a plain Send writes what was deferred with it.
        Assert.True(sender.SendDeferred(new ReceiveConsumedMessage { Context = 4, Bytes = 4 }));
        Assert.Equal(2, sender.Writes);
        done.Reset();
        long afterPlain = -1;
        queue.Schedule(_ =>
        {
            sender.SendDeferred(new ReceiveConsumedMessage { Context = 5, Bytes = 5 });
            sender.Send(new ReceiveConsumedMessage { Context = 6, Bytes = 6 });
            afterPlain = sender.Writes;
            done.Set();
        }, null);
        Assert.True(done.Wait(TimeSpan.FromSeconds(20)));
        Assert.Equal(3, afterPlain);

        // Every message arrived, whole and in order.
        var received = new ArrayBufferWriter<byte>();
        var buffer = new byte[4096];
        var contexts = new List<ulong>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (contexts.Count < 6 && DateTime.UtcNow < deadline)
        {
            int n = await b.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(n > 0);
            received.Write(buffer.AsSpan(0, n));
            var seq = new ReadOnlySequence<byte>(received.WrittenMemory);
            contexts.Clear();
            while (ControlMessage.TryReadFrame(ref seq, ControlProtocol.DefaultMaxMessageSize, out var type, out var id, out var payload))
                contexts.Add(((ReceiveConsumedMessage)ControlMessage.Decode(type, id, payload)).Context);
        }
        Assert.Equal([1UL, 2UL, 3UL, 4UL, 5UL, 6UL], contexts);
        b.Dispose();
    }
}
