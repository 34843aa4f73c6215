using Microsoft.Extensions.Logging;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Chimney;

/// <summary>
/// A contract checker between any host and any target: an <see cref="IOffloadTarget"/> to the host above and an
/// <see cref="IOffloadHost"/> to the target below. It forwards every call unchanged (same objects, same context and
/// handles, same answers) and reports every chimney rule either side breaks as a <see cref="ContractViolation"/>.
/// </summary>
/// <remarks>
/// <para>
/// Chimney spec §0-§6; the rules are the members of <see cref="ContractRule"/>, listed with their spec sections (and
/// the rules not enforced) in <c>docs/chimney.md</c>, "Contract checker". Put it in front of a target
/// (<c>host → checker → target</c>), behind a host, or between layers
/// (<c>host → checker → pass-through layer → checker → target</c>); it binds itself to the target below as its host.
/// </para>
/// <para>
/// Modes: <see cref="ContractCheckerMode.Throw"/> records the violation and throws
/// <see cref="ContractViolationException"/> at the offending call without forwarding it (a completion or indication
/// then throws on the target's thread, e.g. into a <see cref="CompletionQueue"/>'s error callback);
/// <see cref="ContractCheckerMode.Record"/> records and forwards. Both add to <see cref="Violations"/>, call
/// <see cref="ContractCheckerOptions.OnViolation"/> and log through <see cref="ContractCheckerOptions.Logger"/>. After a
/// violation the tracking is best effort: one bug may show as several violations.
/// </para>
/// <para>
/// Threads and cost: one lock per checker guards the tracking; it is never held while calling the host or the target.
/// Tracking is a reference-keyed dictionary of struct entries per NBL in flight, per-connection FIFOs and counters, all
/// sized up front, so a request and its completion allocate nothing once warm; messages are formatted only when a rule
/// is broken. State operations (not the hot path) allocate a small record per tree.
/// </para>
/// </remarks>
public sealed partial class ContractChecker : IOffloadTarget, IOffloadHost
{
    private readonly IOffloadTarget _lower;
    private readonly ContractCheckerOptions _options;
    private readonly Lock _lock = new();
    private readonly Dictionary<NetBufferList, ContractCheckerNbl> _nbls;
    private readonly Dictionary<ulong, ContractCheckerObject> _byContext = [];
    private readonly Dictionary<ulong, ContractCheckerObject> _byHandle = [];
    private readonly Dictionary<OffloadContextSlot, ContractCheckerObject> _bySlot = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<OffloadBlock, ContractCheckerTree> _trees = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<OffloadBlock> _blocksInFlight = new(ReferenceEqualityComparer.Instance);
    private readonly ContractCheckerRecentSet _recentCompleted;
    private readonly ContractCheckerRecentSet _recentReturned;
    private readonly List<ContractViolation> _violations = [];
    private IOffloadHost? _upper;
    private long _clock;

    /// <summary>Creates a checker over <paramref name="lower"/> and binds itself to it as its host.</summary>
    /// <param name="lower">The target (or layer, or checker) below.</param>
    /// <param name="options">Mode, callback, logger and table sizes; defaults (throw) when null.</param>
    public ContractChecker(IOffloadTarget lower, ContractCheckerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(lower);
        _lower = lower;
        _options = options ?? new ContractCheckerOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.RecentWindow, 1);
        _nbls = new Dictionary<NetBufferList, ContractCheckerNbl>(Math.Max(16, _options.ExpectedOutstandingNbls), ReferenceEqualityComparer.Instance);
        _recentCompleted = new ContractCheckerRecentSet(_options.RecentWindow);
        _recentReturned = new ContractCheckerRecentSet(_options.RecentWindow);
        lower.Bind(this);
    }

    /// <summary>What the checker does on a violation.</summary>
    public ContractCheckerMode Mode => _options.Mode;

    /// <summary>Every violation seen so far, oldest first (a snapshot).</summary>
    public IReadOnlyList<ContractViolation> Violations
    {
        get
        {
            lock (_violations) return [.. _violations];
        }
    }

    /// <summary>Number of violations seen so far.</summary>
    public int ViolationCount
    {
        get
        {
            lock (_violations) return _violations.Count;
        }
    }

    /// <summary>NBLs currently tracked (owned by the target, or by the host from an indication); for tests.</summary>
    internal int TrackedNblCount
    {
        get
        {
            lock (_lock) return _nbls.Count;
        }
    }

    private bool Throws => _options.Mode == ContractCheckerMode.Throw;

    private IOffloadHost Upper => _upper ?? throw new InvalidOperationException("No host is bound to the contract checker.");

    /// <inheritdoc/>
    public void Bind(IOffloadHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (Interlocked.CompareExchange(ref _upper, host, null) is not null)
            throw new InvalidOperationException("A host is already bound to the contract checker.");
    }

    /// <inheritdoc/>
    public TcpConnectionOffloadCapabilities CurrentCapabilities => _lower.CurrentCapabilities;

    /// <inheritdoc/>
    public TcpConnectionOffloadCapabilities HardwareCapabilities => _lower.HardwareCapabilities;

    /// <inheritdoc/>
    public NdisStatus SetParameters(OffloadParameters parameters) => _lower.SetParameters(parameters);

    /// <inheritdoc/>
    public MacAddress MacAddress => _lower.MacAddress;

    /// <inheritdoc/>
    public int Mtu => _lower.Mtu;

    /// <inheritdoc/>
    public NdisStatus SendFrame(ReadOnlySpan<byte> frame) => _lower.SendFrame(frame);

    /// <inheritdoc/>
    public TcpOffloadStatisticsSnapshot QueryTcpStatistics(bool ipv6) => _lower.QueryTcpStatistics(ipv6);

    /// <inheritdoc/>
    public IpOffloadStatisticsSnapshot QueryIpStatistics(bool ipv6) => _lower.QueryIpStatistics(ipv6);

    /// <inheritdoc/>
    public void ResetStatistics(bool ipv6) => _lower.ResetStatistics(ipv6);

    /// <inheritdoc/>
    public void IndicateStatus(NdisStatus adapterStatus) => Upper.IndicateStatus(adapterStatus);

    /// <inheritdoc/>
    public void ReceiveFrame(ReadOnlySpan<byte> frame) => Upper.ReceiveFrame(frame);

    // ----- violations -----

    private static void Add(ref List<ContractViolation>? found, ContractRule rule, ContractCheckerObject? obj, NetBufferList? nbl, string message,
        ulong context = 0, ulong handle = 0)
    {
        var violation = new ContractViolation(rule, ContractRules.GetSide(rule), obj?.Context ?? context, obj?.Handle ?? handle, nbl?.RequestId ?? 0,
            $"{message} (chimney spec {ContractRules.GetSpecSection(rule)}).");
        (found ??= []).Add(violation);
    }

    // Outside the lock: records, calls back, logs, and in Throw mode throws for the first violation.
    private void Raise(List<ContractViolation> found)
    {
        lock (_violations) _violations.AddRange(found);
        foreach (var violation in found)
        {
            if (_options.Logger is { } logger && logger.IsEnabled(LogLevel.Warning))
                ContractCheckerLog.Violation(logger, violation.RuleId, violation.Rule, violation.Side, violation.Message);
            _options.OnViolation?.Invoke(violation);
        }
        if (Throws) throw new ContractViolationException(found[0]);
    }

    private static bool HasCycle(NetBufferList? head)
    {
        var slow = head;
        var fast = head;
        while (fast?.Next is not null)
        {
            slow = slow!.Next;
            fast = fast.Next.Next;
            if (ReferenceEquals(slow, fast)) return true;
        }
        return false;
    }

    private static string KindName(ContractCheckerNblKind kind) => kind switch
    {
        ContractCheckerNblKind.Send => "send",
        ContractCheckerNblKind.Receive => "receive post",
        ContractCheckerNblKind.Disconnect => "disconnect",
        ContractCheckerNblKind.Forward => "forward",
        _ => "receive indication",
    };
}
