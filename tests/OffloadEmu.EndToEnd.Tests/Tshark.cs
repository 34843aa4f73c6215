using System.Globalization;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>Counts frames in a capture matching display filters, with IP checksum validation on.</summary>
internal static class Tshark
{
    /// <summary>Frames of <paramref name="file"/> matching <paramref name="filter"/> (null = all).</summary>
    internal static int Count(string file, string? filter = null)
    {
        var args = new List<string> { "-r", file, "-n", "-o", "ip.check_checksum:TRUE", "-T", "fields", "-e", "frame.number" };
        if (filter is not null) { args.Add("-Y"); args.Add(filter); }
        string output = Cmd.Run("tshark", args.ToArray());
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
    }

    /// <summary>Asserts the capture holds no malformed frames and no bad IP/ICMP checksums, and is not empty.</summary>
    internal static void AssertClean(string file)
    {
        Assert.True(Count(file) > 0, $"capture {file} is empty");
        Assert.Equal(0, Count(file, "_ws.malformed"));
        Assert.Equal(0, Count(file, "ip.checksum.status == 0 || icmp.checksum.status == 0"));
    }

    /// <summary>Asserts at least one frame matches <paramref name="filter"/>.</summary>
    internal static void AssertPresent(string file, string filter)
    {
        if (Count(file, filter) >= 1) return;
        Assert.Fail($"no frame matching '{filter}' in the capture; it holds:\n{Cmd.Run("tshark", "-r", file, "-n")}");
    }

    /// <summary>Formats for a display filter.</summary>
    internal static string F(int value) => value.ToString(CultureInfo.InvariantCulture);
}
