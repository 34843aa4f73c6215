using OffloadEmu.Cli.Session;

namespace OffloadEmu.Cli.Tests;

/// <summary>connect / listen command lines: every mistake is one line on stderr naming the option, exit code 2,
/// and nothing is opened.</summary>
public class ArgumentTests
{
    private const string Link = "--link";
    private const string Tap = "tap:oe-none0";

    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int exit = CliApp.Run(args, o, e);
        return (exit, o.ToString(), e.ToString());
    }

    private static void AssertUsage(string expectedFragment, params string[] args)
    {
        var (exit, stdout, stderr) = Run(args);
        Assert.True(exit == 2, $"exit {exit}, stdout: {stdout}, stderr: {stderr}");
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one error line, got: {stderr}");
        Assert.StartsWith($"offloademu {args[0]}: ", lines[0]);
        Assert.Contains(expectedFragment, lines[0]);
        Assert.Equal("", stdout);
    }

    [Theory]
    [InlineData("198.18.0.1", "expected HOST:PORT")]
    [InlineData("198.18.0.1:", "expected HOST:PORT")]
    [InlineData(":7", "expected HOST:PORT")]
    [InlineData("198.18.0:7", "'198.18.0' is not an IPv4 address")]
    [InlineData("example.org:7", "is not an IPv4 address")]
    [InlineData("198.18.0.1:0", "port '0' is not a number from 1 to 65535")]
    [InlineData("198.18.0.1:65536", "port '65536' is not a number from 1 to 65535")]
    [InlineData("198.18.0.1:echo", "port 'echo' is not a number")]
    [InlineData("224.0.0.1:7", "not a unicast host address")]
    public void Bad_host_port_is_named(string hostPort, string fragment)
        => AssertUsage(fragment, "connect", hostPort, Link, Tap, "--local", "198.18.0.2/24", "--send-bytes", "1");

    [Theory]
    [InlineData("198.18.0.2", "expected ADDR/PREFIX")]
    [InlineData("198.18.0.2/", "prefix length '' must be a number from 1 to 32")]
    [InlineData("198.18.0.2/33", "prefix length '33' must be a number from 1 to 32")]
    [InlineData("198.18.0.2/0", "prefix length '0' must be")]
    [InlineData("198.18.0.2/x", "prefix length 'x'")]
    [InlineData("198.18.0/24", "'198.18.0' is not a unicast IPv4 address")]
    [InlineData("0.0.0.0/24", "is not a unicast IPv4 address")]
    public void Bad_local_prefix_is_named(string local, string fragment)
        => AssertUsage(fragment, "connect", "198.18.0.1:7", Link, Tap, "--local", local, "--send-bytes", "1");

    [Theory]
    [InlineData("0", "--parallel 0: expected 1 to 128 streams")]
    [InlineData("129", "--parallel 129: expected 1 to 128 streams")]
    [InlineData("-3", "--parallel -3: expected 1 to 128 streams")]
    public void Parallel_out_of_range_is_named(string n, string fragment)
        => AssertUsage(fragment, "connect", "198.18.0.1:9", Link, Tap, "--local", "198.18.0.2/24", "--send-bytes", "1M", "--parallel", n);

    [Theory]
    [InlineData("0", "--queues 0: expected 1 to 64")]
    [InlineData("65", "--queues 65: expected 1 to 64")]
    public void Queues_out_of_range_is_named(string n, string fragment)
        => AssertUsage(fragment, "connect", "198.18.0.1:9", Link, Tap, "--local", "198.18.0.2/24", "--send-bytes", "1M", "--queues", n);

    [Fact]
    public void Queues_are_the_embedded_targets()
    {
        AssertUsage("--queues sets the embedded target's link; with --daemon set the daemon's Nic:Queues", "connect", "198.18.0.1:9", "--daemon", "/run/x.sock",
            "--local", "198.18.0.2/24", "--send-bytes", "1M", "--queues", "2");
        AssertUsage("--queues 2: --link pcap:eth0 has one queue; use tap:NAME or packet:NAME", "listen", "5001", Link, "pcap:eth0", "--local", "198.18.0.2/24", "--queues", "2");
    }

    [Fact]
    public void Parallel_is_not_for_ping_pong()
        => AssertUsage("--ping-pong times one connection's round trips; drop --parallel", "connect", "198.18.0.1:7", Link, Tap, "--local", "198.18.0.2/24", "--ping-pong", "10", "-P", "2");

    [Fact]
    public void Parallel_with_a_file_is_refused()
    {
        string file = Path.GetTempFileName();
        try
        {
            AssertUsage("--send FILE is one stream's data; with --parallel give --send-bytes N", "connect", "198.18.0.1:9", Link, Tap, "--local", "198.18.0.2/24", "--send", file, "-P", "2");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Parallel_needs_a_byte_per_stream()
        => AssertUsage("--send-bytes 3 over --parallel 4 streams: expected at least one byte per stream", "connect", "198.18.0.1:9", Link, Tap, "--local", "198.18.0.2/24", "--send-bytes", "3", "-P", "4");

    [Fact]
    public void Check_pattern_needs_receive_only()
    {
        AssertUsage("--check-pattern checks what --receive gets", "connect", "198.18.0.1:9", Link, Tap, "--local", "198.18.0.2/24", "--send-bytes", "1M", "--check-pattern");
        AssertUsage("--check-pattern checks what --receive gets", "connect", "198.18.0.1:9", Link, Tap, "--local", "198.18.0.2/24", "--send-bytes", "1M", "--receive", "--check-pattern");
    }

    [Fact]
    public void Parallel_splits_send_bytes_over_the_streams()
    {
        var s = new SessionSettings { Link = new LinkSpec(LinkKind.Tap, "oe0"), Address = OffloadEmu.Wire.Ipv4Address.Parse("198.18.0.2"), PrefixLength = 24 };
        var r = ConnectCommand.Bind("198.18.0.1:9", s, "10", null, receive: false, echoCheck: false, parallel: 4);
        Assert.Equal(4, r.Parallel);
        Assert.Equal(4, r.Streams);
        Assert.Equal([3L, 3L, 2L, 2L], Enumerable.Range(0, 4).Select(i => r.PlanOf(i).SendBytes).ToArray());
        var one = ConnectCommand.Bind("198.18.0.1:9", s, "10", null, receive: false, echoCheck: false);
        Assert.Equal(0, one.Parallel);
        Assert.Equal(1, one.Streams);
        Assert.Equal(10, one.PlanOf(0).SendBytes);
        var rx = ConnectCommand.Bind("198.18.0.1:9", s, null, null, receive: true, echoCheck: false, parallel: 2, checkPattern: true);
        Assert.Equal(ReceiveMode.Check, rx.PlanOf(1).Receive);
        Assert.Equal(0, rx.PlanOf(1).SendBytes);
    }

    [Fact]
    public void Missing_link_says_how_to_give_one()
        => AssertUsage("no link: give --link tap:NAME|packet:NAME|pcap:NAME", "connect", "198.18.0.1:7", "--local", "198.18.0.2/24", "--send-bytes", "1");

    [Fact]
    public void Missing_local_says_how_to_give_one()
        => AssertUsage("no local address: give --local ADDR/PREFIX", "listen", "5001", Link, Tap);

    [Theory]
    [InlineData("oe0", "expected KIND:NAME")]
    [InlineData("tap:", "expected KIND:NAME")]
    [InlineData("veth:oe0", "unknown link kind 'veth'")]
    [InlineData("tap:a-name-longer-than-15", "not a Linux interface name")]
    public void Bad_link_is_named(string link, string fragment)
        => AssertUsage(fragment, "connect", "198.18.0.1:7", Link, link, "--local", "198.18.0.2/24", "--send-bytes", "1");

    [Fact]
    public void Link_and_daemon_conflict()
        => AssertUsage("--link and --daemon are exclusive", "connect", "198.18.0.1:7", Link, Tap, "--daemon", "/run/offloademu.sock", "--local", "198.18.0.2/24", "--send-bytes", "1");

    [Fact]
    public void Capture_with_daemon_is_refused()
        => AssertUsage("with --daemon the daemon captures", "connect", "198.18.0.1:7", "--daemon", "/run/x.sock", "--capture", "/tmp/x.pcapng", "--local", "198.18.0.2/24", "--send-bytes", "1");

    [Fact]
    public void Daemon_that_does_not_answer_is_one_line_and_exit_1()
    {
        string socket = Path.Combine(Path.GetTempPath(), $"oe-none-{Guid.NewGuid():N}.sock");
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:7", "--daemon", socket, "--local", "198.18.0.2/24", "--send-bytes", "1");
        Assert.Equal(1, exit);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, stderr);
        Assert.StartsWith($"offloademu connect: --daemon {socket}: no offloademud answers", lines[0]);
        Assert.Equal("", stdout);
    }

    [Theory]
    [InlineData("--send-bytes and --send are exclusive", "--send-bytes", "1", "--send", "/etc/hostname")]
    [InlineData("--echo-check needs something to send", "--echo-check")]
    [InlineData("--echo-check and --receive are exclusive", "--echo-check", "--receive", "--send-bytes", "1")]
    [InlineData("nothing to do", "--offload", "never")]
    [InlineData("--send-bytes '0': expected a byte count above 0", "--send-bytes", "0")]
    [InlineData("--send-bytes '12Q'", "--send-bytes", "12Q")]
    [InlineData("no such file", "--send", "/nonexistent/offloademu-input")]
    [InlineData("--upload-every needs the connection offloaded: it conflicts with --offload never", "--send-bytes", "1M", "--upload-every", "64K", "--offload", "never")]
    [InlineData("--upload-every '0'", "--send-bytes", "1", "--upload-every", "0")]
    [InlineData("--offload 'sometimes': expected immediate, never or after:N", "--send-bytes", "1", "--offload", "sometimes")]
    [InlineData("--offload 'after:0'", "--send-bytes", "1", "--offload", "after:0")]
    [InlineData("--timeout 0: expected seconds above 0", "--send-bytes", "1", "--timeout", "0")]
    [InlineData("--arp-tries 0: expected 1 to 100", "--send-bytes", "1", "--arp-tries", "0")]
    [InlineData("--gateway '198.18.0.300': not a unicast IPv4 address", "--send-bytes", "1", "--gateway", "198.18.0.300")]
    [InlineData("--gateway 198.18.9.1 is not on the link 198.18.0.2/24", "--send-bytes", "1", "--gateway", "198.18.9.1")]
    public void Conflicting_or_bad_connect_options_are_named(string fragment, params string[] extra)
        => AssertUsage(fragment, ["connect", "198.18.0.1:7", Link, Tap, "--local", "198.18.0.2/24", .. extra]);

    [Fact]
    public void Segmentation_offload_needs_a_tap_link()
        => AssertUsage("--segmentation-offload needs a TAP link (the virtio-net header); --link packet:lo has none", "connect", "198.18.0.1:7", Link, "packet:lo", "--local", "198.18.0.2/24", "--send-bytes", "1", "--segmentation-offload");

    [Fact]
    public void Segmentation_offload_with_a_daemon_is_the_daemons_setting()
        => AssertUsage("with --daemon set the daemon's Link:SegmentationOffload", "listen", "5001", "--daemon", "/run/x.sock", "--local", "198.18.0.2/24", "--segmentation-offload");

    [Fact]
    public void Off_link_peer_needs_a_gateway()
        => AssertUsage("198.18.5.1 is not on 198.18.0.2/24; give --gateway ADDR", "connect", "198.18.5.1:7", Link, Tap, "--local", "198.18.0.2/24", "--send-bytes", "1");

    [Fact]
    public void Own_address_is_not_a_peer()
        => AssertUsage("is our own --local address", "connect", "198.18.0.2:7", Link, Tap, "--local", "198.18.0.2/24", "--send-bytes", "1");

    [Theory]
    [InlineData("--echo, --sink and --source are exclusive", "5001", "--echo", "--sink")]
    [InlineData("--echo, --sink and --source are exclusive", "5001", "--echo", "--source", "1M")]
    [InlineData("PORT '0': expected a number from 1 to 65535", "0")]
    [InlineData("PORT 'http': expected a number from 1 to 65535", "http")]
    [InlineData("--count 0: expected 1 or more", "5001", "--count", "0")]
    [InlineData("--source '-5'", "5001", "--source", "-5")]
    public void Bad_listen_options_are_named(string fragment, params string[] extra)
        => AssertUsage(fragment, ["listen", .. extra, Link, Tap, "--local", "198.18.0.2/24"]);

    [Fact]
    public void Valid_connect_line_binds_every_figure()
    {
        var pr = new System.CommandLine.RootCommand();
        var shared = new SessionOptions();
        shared.AddTo(pr);
        var parsed = pr.Parse(["--link", "packet:eth1", "--local", "198.18.0.2/23", "--gateway", "198.18.1.254", "--offload", "after:64K",
            "--upload-every", "4M", "--capture", "/tmp/x.pcapng", "--json", "--timeout", "2.5", "--arp-tries", "7"]);
        var s = shared.Bind(parsed);
        Assert.Equal(new LinkSpec(LinkKind.Packet, "eth1"), s.Link);
        Assert.Equal("198.18.0.2", s.Address.ToString());
        Assert.Equal(23, s.PrefixLength);
        Assert.Equal("198.18.1.254", s.Gateway.ToString());
        Assert.Equal(new OffloadChoice(OffloadEmu.HostStack.OffloadPolicy.AfterBytes, 65536), s.Offload);
        Assert.Equal(4L << 20, s.UploadEvery);
        Assert.Equal("/tmp/x.pcapng", s.CaptureFile);
        Assert.True(s.Json);
        Assert.Equal(TimeSpan.FromSeconds(2.5), s.Timeout);
        Assert.Equal(7, s.ArpTries);

        var r = ConnectCommand.Bind("198.18.1.7:7", s, "16M", null, receive: false, echoCheck: true);
        Assert.Equal(16L << 20, r.Plan.SendBytes);
        Assert.Equal(ReceiveMode.Verify, r.Plan.Receive);
        Assert.False(r.Plan.CycleOnReceived);
        Assert.Equal("echo-check", r.Mode);
        var receiveOnly = ConnectCommand.Bind("198.18.1.7:19", s, null, null, receive: true, echoCheck: false);
        Assert.True(receiveOnly.Plan.CycleOnReceived);
        var l = ListenCommand.Bind("5001", s, echo: false, sink: false, source: "1G", count: 3);
        Assert.Equal(1L << 30, l.Plan.SendBytes);
        Assert.Equal(3, l.Count);
        Assert.Equal("source", l.Mode);
        Assert.Equal("sink", ListenCommand.Bind("5001", s, false, false, null, null).Mode);
    }

    [Theory]
    [InlineData("1", 1L)]
    [InlineData("64K", 65536L)]
    [InlineData("4m", 4194304L)]
    [InlineData("2G", 2147483648L)]
    public void Sizes_take_binary_suffixes(string text, long bytes)
    {
        Assert.True(SizeParser.TryParse(text, out long n));
        Assert.Equal(bytes, n);
    }

    [Fact]
    public void Packet_link_to_a_missing_interface_fails_at_start_with_one_line()
    {
        var (exit, stdout, stderr) = Run("listen", "5001", Link, "packet:oe-nosuch9", "--local", "198.18.0.2/24");
        Assert.Equal(1, exit);
        Assert.Equal("offloademu listen: --link packet:oe-nosuch9: no interface named 'oe-nosuch9' in this network namespace; pick one from 'ip link' or run offloademu in its namespace (ip netns exec NS offloademu ...)\n", stderr);
        Assert.Equal("", stdout);
    }

    [Fact]
    public void Pattern_checks_what_it_generated_and_finds_the_first_difference()
    {
        var a = new Pattern();
        var buffer = new byte[10_000];
        a.Fill(buffer.AsSpan(0, 3333));
        a.Fill(buffer.AsSpan(3333));
        var b = new Pattern();
        Assert.Equal(-1, b.Check(buffer.AsSpan(0, 5000)));
        buffer[7777] ^= 1;
        Assert.Equal(7777, b.Check(buffer.AsSpan(5000)));
        Assert.Equal(10_000, b.Offset);
        Assert.True(buffer.Distinct().Count() > 200, "the pattern should not be trivially repetitive");
    }
}
