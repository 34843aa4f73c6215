namespace OffloadEmu.HostStack;

/// <summary>Where a connection's TCP state lives.</summary>
public enum ConnectionLocation
{
    /// <summary>The host stack runs the connection with its own TCP machine.</summary>
    Host,

    /// <summary>An initiate offload is pending; the host machine is frozen and arriving segments are held.</summary>
    Offloading,

    /// <summary>The offload target owns the delegated state and moves the data.</summary>
    Offloaded,

    /// <summary>A terminate offload is pending; the connection continues in host mode when it completes.</summary>
    Uploading,

    /// <summary>The connection is over (closed, reset or aborted) and its resources are released.</summary>
    Closed,
}
