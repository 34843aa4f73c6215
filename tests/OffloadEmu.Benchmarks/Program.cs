using BenchmarkDotNet.Running;

namespace OffloadEmu.Benchmarks;

internal static class Program
{
    private static int Main(string[] args)
    {
        // "tap ..." is the TAP throughput mode run by scripts/bench.sh against the lab TAP.
        if (args.Length > 0 && args[0] == "tap") return TapBench.Run(args);
        // "churn-local", "churn-daemon", "churn-server", "scale": rows of scripts/bench.sh (NetBench).
        if (args.Length > 0 && args[0] is "churn-local" or "churn-daemon" or "churn-server" or "scale") return NetBench.Run(args);
        // "framepath ..." is the target's CPU per segment in bulk, send and receive, without a device (FramePathBench).
        if (args.Length > 0 && args[0] == "framepath") return FramePathBench.Run(args);
        // "hostrx ..." is an offloaded connection's receive path through two host stacks (HostReceiveBench).
        if (args.Length > 0 && args[0] == "hostrx") return HostReceiveBench.Run(args);
        // "control ..." compares the target in process with the same target through the control socket.
        if (args.Length > 0 && args[0] == "control") return ControlBench.Run(args);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
