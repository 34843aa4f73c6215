namespace OffloadEmu.Chimney;

/// <summary>Why a <see cref="ContractChecker"/> tracks an NBL.</summary>
internal enum ContractCheckerNblKind : byte
{
    /// <summary>A send (or outstanding send data of an initiate): the target owns it until completion or terminate.</summary>
    Send,

    /// <summary>A receive post: the target owns it until completion.</summary>
    Receive,

    /// <summary>A disconnect: the target owns it until completion.</summary>
    Disconnect,

    /// <summary>A forward: the target owns it until completion.</summary>
    Forward,

    /// <summary>A target NBL the host accepted (or got back as buffered data at terminate): the host owns it until receive return.</summary>
    Indicated,
}
