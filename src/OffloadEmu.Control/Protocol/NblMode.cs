namespace OffloadEmu.Control.Protocol;

/// <summary>How an NBL travels (docs/control.md, "NBL encodings").</summary>
internal enum NblMode : byte
{
    /// <summary>Id, status, info values and every NB's data window with its bytes (sends, forwards, disconnects,
    /// initiate's outstanding sends, BufferedData).</summary>
    Data = 0,
    /// <summary>Id, flags and every NB's capacity, no bytes (receive posts).</summary>
    Post = 1,
    /// <summary>Id, status, info values and every NB's advance and remaining length, no bytes: a completion or a
    /// returned NBL naming the client's own NBL by id.</summary>
    Ref = 2,
}
