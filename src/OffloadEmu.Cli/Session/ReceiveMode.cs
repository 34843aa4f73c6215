namespace OffloadEmu.Cli.Session;

/// <summary>What a connection does with the bytes it receives.</summary>
internal enum ReceiveMode
{
    /// <summary>Count and drop them (until the peer closes).</summary>
    Drain,

    /// <summary>Check them against what was sent: the pattern byte by byte, and SHA-256 of the whole stream.</summary>
    Verify,

    /// <summary>Check them against the deterministic pattern the peer sends (<c>listen --source</c>): byte by byte, and
    /// SHA-256 of the whole stream (<c>connect --receive --check-pattern</c>).</summary>
    Check,

    /// <summary>Send them back (the <c>listen --echo</c> server).</summary>
    Echo,
}
