namespace OffloadEmu.Tcp.Tests;

/// <summary>What a simulated path does to segments (probabilities per segment, delays in microseconds).</summary>
public sealed record Impairment(string Name, double Loss = 0, double Duplicate = 0, double Corrupt = 0, long DelayUs = 5_000, long JitterUs = 0)
{
    public override string ToString() => Name;

    public static readonly Impairment None = new("none");
    public static readonly Impairment Loss2 = new("loss2%", Loss: 0.02);
    public static readonly Impairment Loss10 = new("loss10%", Loss: 0.10);
    public static readonly Impairment Reorder = new("reorder", JitterUs: 20_000);
    public static readonly Impairment Duplicate5 = new("dup5%", Duplicate: 0.05);
    public static readonly Impairment Corrupt5 = new("corrupt5%", Corrupt: 0.05);
    public static readonly Impairment Mixed = new("mixed", Loss: 0.03, Duplicate: 0.03, Corrupt: 0.03, JitterUs: 10_000);

    public static readonly Impairment[] All = { None, Loss2, Loss10, Reorder, Duplicate5, Corrupt5, Mixed };
}
