namespace OffloadEmu.Chimney.Tests.Fakes;

/// <summary>
/// host → <see cref="ContractChecker"/> → scripted target, driven from the test thread: the target completes through a
/// manual <see cref="CompletionQueue"/> that <see cref="Run"/> drains. <see cref="TargetSide"/> is what the target calls,
/// so a test can play a target that breaks a rule.
/// </summary>
public sealed class CheckerRig
{
    public CheckerRig(ContractCheckerMode mode = ContractCheckerMode.Record, IOffloadHost? host = null)
    {
        Queue = CompletionQueue.CreateManual();
        Target = new ScriptedTarget(Queue);
        Checker = new ContractChecker(Target, new ContractCheckerOptions { Mode = mode, OnViolation = v => Seen.Add(v) });
        BoundHost = host ?? new RecordingHost();
        Checker.Bind(BoundHost);
    }

    public CompletionQueue Queue { get; }

    public ScriptedTarget Target { get; }

    public ContractChecker Checker { get; }

    public IOffloadHost BoundHost { get; }

    /// <summary>The host above, when it is the default <see cref="RecordingHost"/>.</summary>
    public RecordingHost Host => (RecordingHost)BoundHost;

    /// <summary>Violations as the callback saw them.</summary>
    public List<ContractViolation> Seen { get; } = [];

    /// <summary>The checker's host side: what the target below calls.</summary>
    public IOffloadHost TargetSide => Target.Host;

    public int Run() => Queue.RunPending();

    /// <summary>Offloads a well-formed sample tree (every block succeeds) and lets the completion through.</summary>
    public SampleTree Offload(ulong handleBase = 0x100)
    {
        var tree = new SampleTree(handleBase).WithState();
        bool auto = Target.AutoComplete;
        Target.AutoComplete = true;
        Assert.Equal(NdisStatus.Pending, Checker.InitiateOffload(tree.Root));
        Run();
        Target.AutoComplete = auto;
        Assert.All(tree.All, b => Assert.True(b.MiniportOffloadContext!.HasContext));
        return tree;
    }

    public static NetBufferList Nbl(int bytes = 100, ulong id = 1)
    {
        var nbl = new NetBufferList { RequestId = id };
        var nb = nbl.AddBuffer();
        if (bytes > 0) nb.AddWritableSegment(new byte[bytes]);
        return nbl;
    }

    public static NetBufferList Chain(int count, int bytes = 100)
    {
        NetBufferList? head = null, tail = null;
        for (int i = 0; i < count; i++) NetBufferListChain.Append(ref head, ref tail, Nbl(bytes, (ulong)(i + 1)));
        return head!;
    }

    /// <summary>Marks <paramref name="nbl"/> done as a target would: status and byte count (the whole request by default),
    /// each NB's data start advanced past its share (spec §3, §5; a count beyond the data advances what there is).</summary>
    public static NetBufferList Done(NetBufferList nbl, NdisStatus status = NdisStatus.Success, int? bytes = null)
    {
        nbl.Status = status;
        nbl.TcpOffloadBytesTransferred = bytes ?? (int)nbl.DataLength;
        Advance(nbl, nbl.TcpOffloadBytesTransferred);
        return nbl;
    }

    /// <summary>Advances the NBs of <paramref name="nbl"/> by <paramref name="bytes"/> in order (NdisAdvanceNetBufferDataStart).</summary>
    public static void Advance(NetBufferList nbl, int bytes)
    {
        for (int i = 0; i < nbl.BufferCount && bytes > 0; i++)
        {
            int n = Math.Min(bytes, nbl[i].DataLength);
            nbl[i].Advance(n);
            bytes -= n;
        }
    }

    /// <summary>Indicates <paramref name="nbl"/> on <paramref name="context"/> as the target would; returns the host's answer.</summary>
    public (NdisStatus Answer, int Consumed) Indicate(ulong context, NetBufferList nbl)
    {
        var task = Target.IndicateReceiveAsync(context, nbl);
        Run();
        return task.GetAwaiter().GetResult();
    }

    /// <summary>The violations since <paramref name="before"/> (a count taken earlier).</summary>
    public IReadOnlyList<ContractViolation> Since(int before) => Checker.Violations.Skip(before).ToList();

    /// <summary>Asserts that exactly one violation happened, of <paramref name="rule"/>, and returns it.</summary>
    public ContractViolation Only(ContractRule rule, int before = 0)
    {
        var violations = Since(before);
        Assert.True(violations.Count == 1, $"Expected exactly one {rule}; saw:{Environment.NewLine}{string.Join(Environment.NewLine, violations)}");
        var single = violations[0];
        Assert.Equal(rule, single.Rule);
        Assert.Equal(ContractRules.GetSide(rule), single.Side);
        return single;
    }

    public void AssertClean()
    {
        var violations = Checker.Violations;
        Assert.True(violations.Count == 0, string.Join(Environment.NewLine, violations));
    }
}
