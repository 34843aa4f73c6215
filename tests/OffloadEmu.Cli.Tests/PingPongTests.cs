namespace OffloadEmu.Cli.Tests;

/// <summary>connect --ping-pong N and --busy-poll US: argument checks (a run is in <see cref="InMemoryRunTests"/>).</summary>
public sealed class PingPongTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int exit = CliApp.Run(args, o, e);
        return (exit, o.ToString(), e.ToString());
    }

    [Theory]
    [InlineData("--ping-pong 0", "--ping-pong 0: expected 1 to 10000000 round trips")]
    [InlineData("--ping-pong 10 --send-bytes 1M", "--ping-pong is a mode of its own")]
    [InlineData("--ping-pong 10 --echo-check", "--ping-pong is a mode of its own")]
    [InlineData("--ping-pong 10 --upload-every 1M", "--upload-every does not apply")]
    [InlineData("--receive --busy-poll -1", "--busy-poll -1: expected 0 (off) to 100000 microseconds")]
    [InlineData("--receive --busy-poll 100001", "--busy-poll 100001: expected 0 (off) to 100000 microseconds")]
    public void Bad_arguments_are_one_line_and_exit_2(string extra, string expected)
    {
        var args = new List<string> { "connect", "198.18.0.1:7", "--link", "tap:oe-none0", "--local", "198.18.0.2/24" };
        args.AddRange(extra.Split(' '));
        var (exit, stdout, stderr) = Run([.. args]);
        Assert.True(exit == 2, $"exit {exit}: {stderr}\n{stdout}");
        Assert.Contains(expected, stderr);
        Assert.Equal("", stdout);
    }

    [Fact]
    public void Transmit_thread_with_a_daemon_is_refused()
    {
        var (exit, _, stderr) = Run("connect", "198.18.0.1:7", "--daemon", "/nonexistent.sock", "--local", "198.18.0.2/24", "--receive", "--transmit-thread");
        Assert.Equal(2, exit);
        Assert.Contains("--transmit-thread sets the embedded target's engine", stderr);
    }

    [Fact]
    public void Inline_completions_with_a_daemon_is_refused()
    {
        var (exit, _, stderr) = Run("connect", "198.18.0.1:7", "--daemon", "/nonexistent.sock", "--local", "198.18.0.2/24", "--receive", "--inline-completions");
        Assert.Equal(2, exit);
        Assert.Contains("--inline-completions sets the embedded target's engine", stderr);
    }

    [Fact]
    public void Busy_poll_with_a_daemon_is_refused()
    {
        var (exit, _, stderr) = Run("connect", "198.18.0.1:7", "--daemon", "/nonexistent.sock", "--local", "198.18.0.2/24", "--receive", "--busy-poll", "50");
        Assert.Equal(2, exit);
        Assert.Contains("--busy-poll sets the embedded target's engine", stderr);
    }
}
