using OffloadEmu.Daemon.Hosting;

namespace OffloadEmu.Daemon.Tests;

/// <summary>Every setting's bad value stops the start with exit code 78 and one line naming the setting and the fix.</summary>
public sealed class OptionValidationTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    // Link
    [InlineData("Link:Kind: 'foo' is not valid; use one of tap, pcap, packet, memory", "--Link:Kind=foo")]
    [InlineData("Link:Interface: empty;", "--Link:Kind=tap", "--Link:Interface=")]
    [InlineData("Link:Interface: 'abcdefghijklmnopq' is 17 characters", "--Link:Kind=tap", "--Link:Interface=abcdefghijklmnopq")]
    [InlineData("Link:Interface: 'a/b' is not a valid interface name", "--Link:Kind=packet", "--Link:Interface=a/b")]
    [InlineData("Link:Interface: the pattern 'oe%d' only works when creating a TAP", "--Link:Kind=tap", "--Link:Interface=oe%d")]
    [InlineData("Link:Interface: no TAP named 'oe-t-none9' in this network namespace; create it with scripts/lab.sh up", "--Link:Kind=tap", "--Link:Interface=oe-t-none9")]
    [InlineData("Link:Interface: no interface named 'oe-t-none9' in this network namespace", "--Link:Kind=packet", "--Link:Interface=oe-t-none9")]
    [InlineData("Link:Create: only a TAP can be created", "--Link:Kind=packet", "--Link:Interface=lo", "--Link:Create=true")]
    [InlineData("Link:Create: 'maybe' is not valid; use true or false", "--Link:Create=maybe")]
    [InlineData("Link:VnetHeader: only a TAP has a virtio-net header", "--Link:VnetHeader=true")]
    [InlineData("Link:SegmentationOffload: segmentation offload goes through a TAP's virtio-net header; a packet link has none", "--Link:Kind=packet", "--Link:Interface=lo", "--Link:SegmentationOffload=true")]
    [InlineData("Link:SegmentationOffload: an impairment (Impairment:Ingress/Egress) works on wire-sized frames", "--Link:Kind=tap", "--Link:Interface=oe-t-none9", "--Link:SegmentationOffload=true", "--Impairment:Ingress=delay 1ms")]
    [InlineData("Link:Filter: a BPF filter needs Link:Kind=pcap", "--Link:Filter=arp")]
    [InlineData("Link:MacAddress: 'zz' is not a MAC address", "--Link:MacAddress=zz")]
    [InlineData("Link:MacAddress: 01:00:5e:00:00:01 is not a unicast address", "--Link:MacAddress=01:00:5e:00:00:01")]
    [InlineData("Link:Mtu: 20 is out of range; use 68..9000", "--Link:Mtu=20")]
    [InlineData("Link:Mtu: 'big' is not valid", "--Link:Mtu=big")]
    // Nic
    [InlineData("Nic:MacAddress: ff:ff:ff:ff:ff:ff is not a unicast address", "--Nic:MacAddress=ff:ff:ff:ff:ff:ff")]
    [InlineData("Nic:Capabilities:Ipv4: both Ipv4 and Ipv6 are false", "--Nic:Capabilities:Ipv4=false", "--Nic:Capabilities:Ipv6=false")]
    [InlineData("Nic:Capabilities:Sack: 'yes' is not valid; use true or false", "--Nic:Capabilities:Sack=yes")]
    [InlineData("Nic:Capabilities:Capacity: 0 is out of range; use 1..1048576", "--Nic:Capabilities:Capacity=0")]
    [InlineData("Nic:Capabilities:Encapsulation: 'Token' is not valid; use one of Ieee8023, LlcSnapRouted", "--Nic:Capabilities:Encapsulation=Token")]
    [InlineData("Nic:Capabilities:Encapsulation: 'None' is not allowed", "--Nic:Capabilities:Encapsulation=None")]
    [InlineData("Nic:Queues: 65 is out of range; use 1..64", "--Nic:Queues=65")]
    [InlineData("Nic:Queues: 0 is out of range; use 1..64", "--Nic:Queues=0")]
    [InlineData("Nic:Queues: -2 is out of range; use 1..64", "--Nic:Queues=-2")]
    [InlineData("Nic:Queues: 'two' is not valid", "--Nic:Queues=two")]
    [InlineData("Nic:TerminateSends: 'Later' is not allowed; use Return", "--Nic:TerminateSends=Later")]
    [InlineData("Nic:BusyPollMicroseconds: 100001 is out of range; use 0..100000 (0 = off)", "--Nic:BusyPollMicroseconds=100001")]
    [InlineData("Nic:BusyPollMicroseconds: -5 is out of range; use 0..100000", "--Nic:BusyPollMicroseconds=-5")]
    [InlineData("Nic:VlanIds:0: 0 is out of range; use 1..4094 (an IEEE 802.1Q VLAN id", "--Nic:VlanIds:0=0")]
    [InlineData("Nic:VlanIds:1: 4095 is out of range; use 1..4094", "--Nic:VlanIds:0=5", "--Nic:VlanIds:1=4095")]
    [InlineData("Nic:VlanIds: 7 is listed twice; list each VLAN id once", "--Nic:VlanIds:0=7", "--Nic:VlanIds:1=7")]
    // Offload (chimney spec §6.9)
    [InlineData("Offload:TicksPerSecond: 7 is not a chimney tick rate; use 10, 100 or 1000", "--Offload:TicksPerSecond=7")]
    [InlineData("Offload:TicksPerSecond: 'fast' is not valid; use a whole number", "--Offload:TicksPerSecond=fast")]
    [InlineData("Offload:TcpAckFrequency: 0 is out of range; use 1..255", "--Offload:TcpAckFrequency=0")]
    [InlineData("Offload:TcpDelayedAckTicks: 600 is out of range; use 1..500 (at most 500 ms", "--Offload:TcpDelayedAckTicks=600")]
    [InlineData("Offload:TcpDelayedAckTicks: 200 is out of range; use 1..50", "--Offload:TicksPerSecond=100", "--Offload:TcpSwsPreventionTicks=50")]
    [InlineData("Offload:TcpMaximumRetransmissions: 0 is out of range; use 1..255", "--Offload:TcpMaximumRetransmissions=0")]
    [InlineData("Offload:TcpDoubtReachabilityRetransmissions: 9 is out of range; use 1..Offload:TcpMaximumRetransmissions (5)", "--Offload:TcpDoubtReachabilityRetransmissions=9")]
    [InlineData("Offload:TcpSwsPreventionTicks: 5 is out of range; use 100..1000", "--Offload:TcpSwsPreventionTicks=5")]
    [InlineData("Offload:TcpDuplicateAckThreshold: 0 is out of range", "--Offload:TcpDuplicateAckThreshold=0")]
    [InlineData("Offload:TcpPushTicks: 0 is out of range", "--Offload:TcpPushTicks=0")]
    [InlineData("Offload:NceStaleTicks: -1 is out of range", "--Offload:NceStaleTicks=-1")]
    // Policies (chimney spec §6.3)
    [InlineData("Policies:OptionalRetrieveReasons:0: TimeoutExpiration is a mandatory reason and always on", "--Policies:OptionalRetrieveReasons:0=TimeoutExpiration")]
    [InlineData("Policies:OptionalRetrieveReasons:1: 'Boredom' is not an optional retrieve reason; use one of LowActivity", "--Policies:OptionalRetrieveReasons:0=SmallIO", "--Policies:OptionalRetrieveReasons:1=Boredom")]
    // Capture
    [InlineData("Capture:Format: 'pcapx' is not valid; use one of pcapng, pcap", "--Capture:Format=pcapx")]
    [InlineData("Capture:Format: pcap does not match the file name", "--Capture:Format=pcap", "--Capture:File=x.pcapng")]
    [InlineData("Capture:MaxFileBytes: 100 is too small", "--Capture:MaxFileBytes=100")]
    [InlineData("Capture:FlushIntervalMilliseconds: 0 is out of range", "--Capture:FlushIntervalMilliseconds=0")]
    [InlineData("Capture:SnapLength: 10 is out of range; use 64..262144", "--Capture:SnapLength=10")]
    // Impairment
    [InlineData("Impairment:Ingress: ", "--Impairment:Ingress=delay fast")]
    [InlineData("Impairment:Egress: ", "--Impairment:Egress=loss 200%")]
    [InlineData("Impairment:Seed: '-1' is not valid; use a whole number (0..", "--Impairment:Seed=-1")]
    // Control
    [InlineData("Control:Endpoint: empty;", "--Control:Endpoint=")]
    [InlineData("Control:Endpoint: 'control.sock' is relative", "--Control:Endpoint=control.sock")]
    [InlineData("Control:Group: 'a b' is not a group name", "--Control:Group=a b")]
    [InlineData("Control:Group: no group 'oe-t-nosuchgrp' on this system;", "--Control:Group=oe-t-nosuchgrp")]
    // Metrics and logging
    [InlineData("Metrics:Enabled: 'perhaps' is not valid; use true or false", "--Metrics:Enabled=perhaps")]
    [InlineData("Logging:Serilog: ", "--Logging:Serilog:MinimumLevel:Default=Loud")]
    // Misspelt keys
    [InlineData("Link:Interfase: unknown setting; check the spelling (Link has Kind, Interface,", "--Link:Interfase=oe1")]
    [InlineData("Nic:Capabilities:Sak: unknown setting", "--Nic:Capabilities:Sak=true")]
    [InlineData("Offload:TicksPerSec: unknown setting", "--Offload:TicksPerSec=100")]
    // Command line
    [InlineData("--config: no path given", "--config")]
    [InlineData("command line: 'foo' is not a setting; write settings as --Section:Key=value", "foo")]
    [InlineData("command line: '--verbose' is not a setting", "--verbose")]
    [InlineData("command line: '-x' is not a setting", "-x")]
    public void Bad_setting_fails_the_start_with_one_line_naming_it(string expected, params string[] args)
    {
        var (code, lines) = TestConfig.RunFailing(_dir, TestConfig.MemoryJson, args);
        Assert.Equal(ExitCodes.Configuration, code);
        string line = Assert.Single(lines);
        Assert.StartsWith("offloademud: " + expected, line, StringComparison.Ordinal);
        Assert.Contains(';', line);   // every message says how to fix it after the semicolon
        Assert.DoesNotContain("   at ", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Control_endpoint_longer_than_sun_path_is_rejected()
    {
        var (code, lines) = TestConfig.RunFailing(_dir, TestConfig.MemoryJson, "--Control:Endpoint=/" + new string('s', 120));
        Assert.Equal(ExitCodes.Configuration, code);
        Assert.Contains("is longer than 107 bytes", Assert.Single(lines), StringComparison.Ordinal);
    }

    [Fact]
    public void Capture_file_that_cannot_be_created_names_the_setting()
    {
        string blocker = _dir.Write("a-file", "not a directory");
        var (code, lines) = TestConfig.RunFailing(_dir, TestConfig.MemoryJson, $"--Capture:File={blocker}/cap.pcapng");
        Assert.Equal(ExitCodes.Configuration, code);
        Assert.StartsWith($"offloademud: Capture:File: cannot create '{blocker}/cap.pcapng'", Assert.Single(lines), StringComparison.Ordinal);
    }

    [Fact]
    public void Pcap_on_a_missing_interface_names_the_interface_or_the_missing_library()
    {
        var (code, lines) = TestConfig.RunFailing(_dir, TestConfig.MemoryJson, "--Link:Kind=pcap", "--Link:Interface=oe-t-none9");
        Assert.Equal(ExitCodes.Configuration, code);
        string expected = OffloadEmu.Link.Devices.PcapDevice.IsAvailable
            ? "offloademud: Link:Interface: no interface named 'oe-t-none9' in this network namespace;"
            : "offloademud: Link:Kind: pcap needs libpcap, which cannot be loaded; install it";
        Assert.StartsWith(expected, Assert.Single(lines), StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_config_file_names_the_path()
    {
        var (code, lines) = TestConfig.RunFailing(_dir, TestConfig.MemoryJson, "--config", "/nonexistent/emulator.json");
        Assert.Equal(ExitCodes.Configuration, code);
        Assert.Equal("offloademud: --config: no file at '/nonexistent/emulator.json'; give the path of an existing emulator.json", Assert.Single(lines));
    }

    [Fact]
    public void Malformed_json_names_the_file()
    {
        var (code, lines) = TestConfig.RunFailing(_dir, "{ \"Link\": { \"Kind\": ");
        Assert.Equal(ExitCodes.Configuration, code);
        Assert.StartsWith($"offloademud: {_dir.File("emulator.json")}: not valid JSON", Assert.Single(lines), StringComparison.Ordinal);
    }

    [Fact]
    public void Two_bad_settings_give_one_line_each()
    {
        var (code, lines) = TestConfig.RunFailing(_dir, TestConfig.MemoryJson, "--Offload:TcpAckFrequency=0", "--Offload:TcpPushTicks=0");
        Assert.Equal(ExitCodes.Configuration, code);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("offloademud: Offload:TcpAckFrequency:", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("offloademud: Offload:TcpPushTicks:", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_repository_default_is_valid_apart_from_the_lab_tap()
    {
        // emulator.json as shipped, pointed at a memory link: every other setting must validate.
        string json = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "emulator.json"));
        string capture = _dir.File("default.pcapng");
        using var host = TestConfig.Build(_dir, json, ["--Link:Kind=memory", $"--Capture:File={capture}", "--Logging:Serilog:WriteTo:0:Name=Console", "--Logging:Serilog:MinimumLevel:Default=Fatal", "--Logging:Serilog:WriteTo:1:Name=Console"]);
        await host.StartAsync();
        await host.StopAsync();
        Assert.True(File.Exists(capture));
    }
}
