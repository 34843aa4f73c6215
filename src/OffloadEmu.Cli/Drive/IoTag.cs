namespace OffloadEmu.Cli.Drive;

/// <summary>What an NBL the drive handed to the target was for: its connection and the request whose completion it
/// is (kept in <c>ProtocolReserved</c>).</summary>
internal sealed record class IoTag(int Conn, string IdJson);
