using OffloadEmu.Control.Protocol;
using OffloadEmu.Control.Server;

namespace OffloadEmu.Control.Tests;

public sealed class ProtocolErrorTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static void AssertErrorAndClose(RawClient raw, ProtocolError expected, bool afterHello = false)
    {
        var (messages, closed) = raw.ReadUntilClosed(Wait);
        Assert.True(closed, "the server did not close the connection");
        if (afterHello) Assert.IsType<HelloReplyMessage>(messages[0]);
        var error = Assert.IsType<ErrorMessage>(messages[^1]);
        Assert.Equal(expected, error.Code);
    }

    [Fact]
    public async Task A_request_before_the_hello_gets_an_error_and_a_close()
    {
        await using var lab = new LiveLab();
        using var raw = new RawClient(lab.SocketPath);
        raw.Send(new QueryStatisticsMessage { RequestId = 5 });
        AssertErrorAndClose(raw, ProtocolError.OutOfOrder);
    }

    [Fact]
    public async Task A_wrong_version_or_magic_gets_an_error_and_a_close()
    {
        await using var lab = new LiveLab();
        using (var raw = new RawClient(lab.SocketPath))
        {
            raw.Send(new HelloMessage { Version = 99, RequestId = 1 });
            AssertErrorAndClose(raw, ProtocolError.VersionMismatch);
        }
        using (var raw = new RawClient(lab.SocketPath))
        {
            raw.Send(new HelloMessage { Magic = 0x12345678, RequestId = 1 });
            AssertErrorAndClose(raw, ProtocolError.BadMagic);
        }
    }

    [Fact]
    public async Task An_oversized_message_gets_an_error_and_a_close_before_its_payload_is_sent()
    {
        await using var lab = new LiveLab(new ControlServerOptions { MaxMessageSize = 128 * 1024 });
        using var raw = new RawClient(lab.SocketPath);
        raw.Hello();
        var header = new byte[ControlProtocol.HeaderSize];
        ControlMessage.WriteHeader(header, 128 * 1024 + 1, MessageType.TcpSend, 2);
        raw.Send(header);
        AssertErrorAndClose(raw, ProtocolError.Oversized, afterHello: true);
    }

    [Fact]
    public async Task Unknown_and_server_side_types_second_hello_and_malformed_payloads_get_errors()
    {
        await using var lab = new LiveLab();
        (byte[] Bytes, ProtocolError Error)[] cases =
        [
            (RawClient.Frame((MessageType)999, 2, []), ProtocolError.UnknownType),
            (RawClient.Frame(MessageType.StatusReply, 2, RawClient.U32(0)), ProtocolError.UnknownType),
            (new HelloMessage { RequestId = 2 }.ToArray(), ProtocolError.OutOfOrder),
            (RawClient.Frame(MessageType.QueryStatistics, 2, [7]), ProtocolError.Malformed),
            (RawClient.Frame(MessageType.QueryStatistics, 2, [0, 0]), ProtocolError.Malformed),
            (RawClient.Frame(MessageType.TcpSend, 2, RawClient.U32(1)), ProtocolError.Malformed),
            (RawClient.Frame(MessageType.InitiateOffload, 2, RawClient.U32(4096)), ProtocolError.Malformed),
        ];
        foreach (var (bytes, error) in cases)
        {
            using var raw = new RawClient(lab.SocketPath);
            raw.Hello();
            raw.Send(bytes);
            AssertErrorAndClose(raw, error, afterHello: true);
        }
        // The server still serves.
        var host = new TestHost();
        await using var client = lab.Connect(host);
        Assert.Equal(lab.Target.Mtu, client.Mtu);
        Assert.Equal(NdisStatus.Success, client.SetParameters(OffloadParameters.Default));
    }

    [Fact]
    public async Task A_connection_flood_is_bounded_by_MaxSessions_and_a_bound_host_keeps_being_served()
    {
        // Issue 8, control socket abuse: silent connections fill the session slots; the next one is told "too many
        // clients" and closed; a host bound before the flood keeps getting answers; once the silent ones time out
        // (no hello), a new host binds.
        await using var lab = new LiveLab(new ControlServerOptions { MaxSessions = 8, HelloTimeout = TimeSpan.FromMilliseconds(500) });
        await using var bound = lab.Connect(new TestHost(), "bound");
        var flood = new List<RawClient>();
        try
        {
            for (int i = 0; i < 7; i++) flood.Add(new RawClient(lab.SocketPath));   // 1 bound + 7 silent = MaxSessions
            await Task.Delay(100);
            using (var refused = new RawClient(lab.SocketPath))
            {
                var (messages, closed) = refused.ReadUntilClosed(Wait);
                Assert.True(closed, "the server kept a connection beyond MaxSessions");
                var error = Assert.IsType<ErrorMessage>(messages[^1]);
                Assert.Contains("too many clients", error.Text, StringComparison.Ordinal);
            }
            Assert.Equal(NdisStatus.Success, bound.SetParameters(OffloadParameters.Default));   // still served
            foreach (var raw in flood) Assert.True(raw.ReadUntilClosed(Wait).Closed, "a silent client was not closed at the hello timeout");
        }
        finally
        {
            foreach (var raw in flood) raw.Dispose();
        }
        await Task.Delay(100);
        await using var later = lab.Connect(new TestHost(), "later");
        Assert.True(later.IsConnected);
        Assert.Equal(NdisStatus.Success, later.SetParameters(OffloadParameters.Default));
        Assert.Equal(NdisStatus.Success, bound.SetParameters(OffloadParameters.Default));
    }

    [Fact]
    public async Task A_client_that_sends_no_hello_in_time_is_closed()
    {
        await using var lab = new LiveLab(new ControlServerOptions { HelloTimeout = TimeSpan.FromMilliseconds(300) });
        using var raw = new RawClient(lab.SocketPath);
        AssertErrorAndClose(raw, ProtocolError.OutOfOrder);
    }

    [Fact]
    public async Task A_second_server_on_a_live_socket_is_refused_and_a_regular_file_is_not_deleted()
    {
        await using var lab = new LiveLab();
        OffloadEmu.Link.Devices.MemoryLink.CreatePair(out var nic, out var wire);
        using var target = new OffloadEmu.Target.OffloadTarget(nic);
        await using (var second = new ControlServer(target, new ControlServerOptions { Path = lab.SocketPath }))
        {
            Assert.Throws<IOException>(second.Start);
        }
        var file = Path.Combine(lab.Directory, "not-a-socket");
        File.WriteAllText(file, "keep me");
        OffloadEmu.Link.Devices.MemoryLink.CreatePair(out var nic2, out var wire2);
        using var target2 = new OffloadEmu.Target.OffloadTarget(nic2);
        await using (var third = new ControlServer(target2, new ControlServerOptions { Path = file }))
        {
            Assert.Throws<IOException>(third.Start);
        }
        Assert.Equal("keep me", File.ReadAllText(file));
        // The first server still serves.
        await using var client = lab.Connect(new TestHost());
        Assert.True(client.IsConnected);
        nic.Dispose(); wire.Dispose(); nic2.Dispose(); wire2.Dispose();
    }

    [Fact]
    public async Task The_socket_file_is_created_with_mode_0660_in_a_created_directory()
    {
        await using var lab = new LiveLab();
        Assert.True(File.Exists(lab.SocketPath));
        if (OperatingSystem.IsWindows()) return;
        var mode = File.GetUnixFileMode(lab.SocketPath);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, mode);
    }

    [Fact]
    public async Task A_client_that_never_reads_is_closed_with_TooSlow_when_its_queue_passes_the_bound()
    {
        await using var lab = new LiveLab(new ControlServerOptions { MaxQueuedBytes = 256 * 1024, MaxMessageSize = 64 * 1024 });
        using var raw = new RawClient(lab.SocketPath);
        raw.Hello();
        for (int i = 0; i < 500 && lab.Server.SessionCount == 0; i++) await Task.Delay(10);
        Assert.Equal(1, lab.Server.SessionCount);
        // Thousands of statistics queries whose answers it never reads: the server's queue for it grows past 256 KiB
        // (plus the socket buffers) and the session is closed; the server goes on.
        var query = new QueryStatisticsMessage { RequestId = 3 }.ToArray();
        var burst = new byte[query.Length * 1000];
        for (int i = 0; i < 1000; i++) query.CopyTo(burst, i * query.Length);
        var end = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < end && lab.Server.SessionCount > 0)
        {
            raw.Send(burst);
            await Task.Delay(1);
        }
        Assert.Equal(0, lab.Server.SessionCount);
        var host = new TestHost();
        await using var client = lab.Connect(host);
        Assert.Equal(1, lab.Server.SessionCount);
    }

    // ---- fragmented messages (protocol version 2) ----------------------------------------------------------------------

    private static FragmentMessage Piece(ulong id, MessageType inner, uint total, uint offset, int length, MessageType type = MessageType.Fragment)
        => new(type) { RequestId = id, InnerType = inner, TotalLength = total, Offset = offset, Bytes = new byte[length] };

    public static TheoryData<string> BrokenSequences => ["interrupted", "offset", "other request", "past the end", "not a state request", "empty", "too big", "version 1", "closed midway"];

    [Theory]
    [MemberData(nameof(BrokenSequences))]
    public async Task A_broken_fragment_sequence_is_a_clear_protocol_error_and_the_server_goes_on(string broken)
    {
        await using var lab = new LiveLab();
        using (var raw = new RawClient(lab.SocketPath))
        {
            raw.Send(new HelloMessage { ClientName = "raw", RequestId = 1, Version = broken == "version 1" ? (ushort)1 : ControlProtocol.Version });
            var expected = ProtocolError.Malformed;
            switch (broken)
            {
                case "interrupted":
                    raw.Send(Piece(2, MessageType.InitiateOffload, 1000, 0, 400));
                    raw.Send(new QueryStatisticsMessage { RequestId = 3 });
                    break;
                case "offset":
                    raw.Send(Piece(2, MessageType.InitiateOffload, 1000, 0, 400));
                    raw.Send(Piece(2, MessageType.InitiateOffload, 1000, 500, 400));
                    break;
                case "other request":
                    raw.Send(Piece(2, MessageType.InitiateOffload, 1000, 0, 400));
                    raw.Send(Piece(4, MessageType.InitiateOffload, 1000, 400, 400));
                    break;
                case "past the end":
                    raw.Send(Piece(2, MessageType.InitiateOffload, 1000, 0, 600));
                    raw.Send(Piece(2, MessageType.InitiateOffload, 1000, 600, 600));
                    break;
                case "not a state request":
                    raw.Send(Piece(2, MessageType.TcpSend, 1000, 0, 400));
                    break;
                case "empty":
                    raw.Send(Piece(2, MessageType.InitiateOffload, 1000, 0, 0));
                    break;
                case "too big":
                    raw.Send(Piece(2, MessageType.InitiateOffload, ControlProtocol.MaxFragmentedMessageSize + 1u, 0, 400));
                    expected = ProtocolError.Oversized;
                    break;
                case "version 1":
                    raw.Send(Piece(2, MessageType.InitiateOffload, 1000, 0, 400));
                    expected = ProtocolError.UnknownType;
                    break;
                case "closed midway":
                    // Whole pieces of a tree that is garbage once joined would be Malformed too; here the client just
                    // goes away after the first piece: the server drops the partial message and carries on.
                    raw.Send(Piece(2, MessageType.InitiateOffload, 1000, 0, 400));
                    break;
            }
            if (broken == "closed midway")
            {
                await Task.Delay(100);
            }
            else
            {
                var (messages, closed) = raw.ReadUntilClosed(Wait);
                Assert.True(closed, "the server did not close the connection");
                var hello = Assert.IsType<HelloReplyMessage>(messages[0]);
                Assert.Equal(broken == "version 1" ? (ushort)1 : ControlProtocol.Version, hello.Version);
                var error = Assert.IsType<ErrorMessage>(messages[^1]);
                Assert.Equal(expected, error.Code);
                Assert.Contains(broken == "version 1" ? "version" : "ragment", error.Text);
            }
        }
        // The server serves the next client.
        var host = new TestHost();
        await using var client = lab.Connect(host);
        Assert.True(client.IsConnected);
        Assert.NotNull(client.QueryParameters()); // a round trip through the server
    }

    [Fact]
    public async Task Whole_pieces_of_a_garbage_tree_are_malformed_once_joined()
    {
        await using var lab = new LiveLab();
        using var raw = new RawClient(lab.SocketPath);
        raw.Hello();
        var garbage = new byte[1000];
        new Random(3).NextBytes(garbage);
        raw.Send(new FragmentMessage(MessageType.Fragment) { RequestId = 2, InnerType = MessageType.InitiateOffload, TotalLength = 1000, Offset = 0, Bytes = garbage.AsMemory(0, 600) });
        raw.Send(new FragmentMessage(MessageType.Fragment) { RequestId = 2, InnerType = MessageType.InitiateOffload, TotalLength = 1000, Offset = 600, Bytes = garbage.AsMemory(600) });
        AssertErrorAndClose(raw, ProtocolError.Malformed, afterHello: true);
    }
}
