using OffloadEmu.Control.Server;

namespace OffloadEmu.Control.Tests;

public sealed class ParametersTests
{
    [Fact]
    public async Task QueryParameters_returns_what_the_source_reports_and_follows_a_SetParameters()
    {
        LiveLab? labRef = null;
        await using var lab = labRef = new LiveLab(new ControlServerOptions
        {
            ParametersSource = () => new TargetParameters
            {
                Parameters = labRef!.Target.CurrentParameters, MinRto = labRef.Target.CurrentTcpConfig.MinRto,
                MaxRto = labRef.Target.CurrentTcpConfig.MaxRto, FinWait2Timeout = labRef.Target.CurrentTcpConfig.FinWait2Timeout,
                ChallengeAckInterval = labRef.Target.CurrentTcpConfig.ChallengeAckInterval,
            },
        });
        var host = new TestHost();
        await using var client = lab.Connect(host);

        var before = client.QueryParameters();
        Assert.NotNull(before);
        Assert.Equal(NdisStatus.Success, before.Status);
        Assert.Equal(lab.Target.CurrentParameters, before.Parameters);
        Assert.Equal(TimeSpan.FromSeconds(3), before.ChallengeAckInterval); // the target's RFC 5961 limit (spec §6.5)
        Assert.Equal(lab.Target.CurrentTcpConfig.MinRto, before.MinRto);
        Assert.Equal(lab.Target.CurrentTcpConfig.FinWait2Timeout, before.FinWait2Timeout);

        var hundred = OffloadParameters.ForTicksPerSecond(100);
        Assert.Equal(NdisStatus.Success, client.SetParameters(hundred));
        var after = client.QueryParameters();
        Assert.NotNull(after);
        Assert.Equal(100u, after.Parameters.TicksPerSecond);
        Assert.Equal(hundred, after.Parameters);
    }

    [Fact]
    public async Task QueryParameters_without_a_source_is_not_supported_and_the_session_goes_on()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        await using var client = lab.Connect(host);
        var reply = client.QueryParameters();
        Assert.NotNull(reply);
        Assert.Equal(NdisStatus.NotSupported, reply.Status);
        Assert.True(client.IsConnected);
        Assert.True(client.QueryTcpStatistics(false).InSegments >= 0);
    }
}
