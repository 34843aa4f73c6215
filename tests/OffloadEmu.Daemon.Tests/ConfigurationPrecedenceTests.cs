using System.Collections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OffloadEmu.Daemon.Configuration;
using OffloadEmu.Daemon.Hosting;
using OffloadEmu.Daemon.Options;

namespace OffloadEmu.Daemon.Tests;

/// <summary>emulator.json &lt; OFFLOADEMU_ environment &lt; command line, and where emulator.json is found.</summary>
public sealed class ConfigurationPrecedenceTests : IDisposable
{
    private const string Json = """
        { "Link": { "Kind": "memory", "Interface": "json0" }, "Nic": { "Queues": 2, "Capabilities": { "Capacity": 11 } },
          "Logging": { "Serilog": { "WriteTo": [] } } }
        """;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private (LinkOptions Link, NicOptions Nic) Bind(IDictionary environment, params string[] args)
    {
        using var host = TestConfig.Build(_dir, Json, args, environment);
        return (host.Services.GetRequiredService<IOptions<LinkOptions>>().Value, host.Services.GetRequiredService<IOptions<NicOptions>>().Value);
    }

    [Fact]
    public void Json_alone_applies()
    {
        var (link, nic) = Bind(new Hashtable());
        Assert.Equal("json0", link.Interface);
        Assert.Equal(2, nic.Queues);
        Assert.Equal(11, nic.Capabilities.Capacity);
        Assert.True(nic.Capabilities.Sack);   // not in the file: the built-in default
    }

    [Fact]
    public void Environment_overrides_json()
    {
        var env = new Hashtable { ["OFFLOADEMU_Link__Interface"] = "env0", ["offloademu_Nic__Capabilities__Capacity"] = "22", ["OTHER_Nic__Queues"] = "9" };
        var (link, nic) = Bind(env);
        Assert.Equal("env0", link.Interface);
        Assert.Equal(22, nic.Capabilities.Capacity);   // prefix matched case-insensitively, "__" nests
        Assert.Equal(2, nic.Queues);                    // variables without the prefix are ignored
    }

    [Fact]
    public void Command_line_overrides_environment_and_json()
    {
        var env = new Hashtable { ["OFFLOADEMU_Link__Interface"] = "env0", ["OFFLOADEMU_Nic__Queues"] = "3" };
        var (link, nic) = Bind(env, "--Link:Interface=cmd0", "--Nic:Capabilities:Capacity", "33");
        Assert.Equal("cmd0", link.Interface);
        Assert.Equal(33, nic.Capabilities.Capacity);
        Assert.Equal(3, nic.Queues);                    // the environment still beats the file where the command line is silent
    }

    [Fact]
    public void Explicit_config_wins_over_the_working_directory()
    {
        string other = _dir.Write("other.json", Json.Replace("json0", "other0", StringComparison.Ordinal));
        var (link, _) = Bind(new Hashtable(), "--config", other);
        Assert.Equal("other0", link.Interface);
        var (link2, _) = Bind(new Hashtable(), $"--config={other}");
        Assert.Equal("other0", link2.Interface);
    }

    [Fact]
    public void Lookup_order_is_config_then_working_directory_then_binary_directory()
    {
        using var work = new TempDirectory();
        using var bin = new TempDirectory();
        Assert.Null(ConfigFileLocator.Locate(null, work.Path, bin.Path));
        string beside = bin.Write("emulator.json", "{}");
        Assert.Equal(beside, ConfigFileLocator.Locate(null, work.Path, bin.Path));
        string here = work.Write("emulator.json", "{}");
        Assert.Equal(here, ConfigFileLocator.Locate(null, work.Path, bin.Path));
        string named = work.Write("mine.json", "{}");
        Assert.Equal(named, ConfigFileLocator.Locate("mine.json", work.Path, bin.Path));
    }

    [Fact]
    public void Without_any_file_the_built_in_defaults_apply()
    {
        var settings = new DaemonHostSettings { WorkingDirectory = _dir.Path, BaseDirectory = _dir.Path, Environment = new Hashtable() };
        var (builder, file) = DaemonHost.CreateBuilder(["--Logging:Serilog:WriteTo:0:Name=Console", "--Logging:Serilog:MinimumLevel:Default=Fatal"], settings);
        using var host = builder.Build();
        Assert.Null(file);
        var link = host.Services.GetRequiredService<IOptions<LinkOptions>>().Value;
        Assert.Equal(LinkKind.Tap, link.Kind);
        Assert.Equal("oe0", link.Interface);
        Assert.Equal(1000, host.Services.GetRequiredService<IOptions<OffloadParametersOptions>>().Value.TicksPerSecond);
    }

    [Fact]
    public void The_repository_default_matches_the_built_in_defaults()
    {
        // docs/configuration.md documents one set of defaults: the file and the classes must agree.
        string json = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "emulator.json"));
        using var host = TestConfig.Build(_dir, json, ["--Logging:Serilog:MinimumLevel:Default=Fatal"], environment: new Hashtable());
        var sp = host.Services;
        AssertSame(new LinkOptions(), sp.GetRequiredService<IOptions<LinkOptions>>().Value);
        AssertSame(new NicCapabilitiesOptions(), sp.GetRequiredService<IOptions<NicOptions>>().Value.Capabilities);
        AssertSame(new OffloadParametersOptions(), sp.GetRequiredService<IOptions<OffloadParametersOptions>>().Value);
        AssertSame(new ImpairmentOptions(), sp.GetRequiredService<IOptions<ImpairmentOptions>>().Value);
        AssertSame(new ControlOptions(), sp.GetRequiredService<IOptions<ControlOptions>>().Value);
        Assert.Empty(sp.GetRequiredService<IOptions<PoliciesOptions>>().Value.OptionalRetrieveReasons);
        Assert.Equal("out/offloademud.pcapng", sp.GetRequiredService<IOptions<CaptureFileOptions>>().Value.File);
    }

    private static void AssertSame<T>(T expected, T actual)
    {
        foreach (var p in typeof(T).GetProperties())
            Assert.True(Equals(p.GetValue(expected), p.GetValue(actual)), $"{typeof(T).Name}.{p.Name}: default {p.GetValue(expected)}, emulator.json {p.GetValue(actual)}");
    }
}
