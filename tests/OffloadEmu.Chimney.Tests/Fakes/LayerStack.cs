namespace OffloadEmu.Chimney.Tests.Fakes;

/// <summary>host → <c>depth</c> pass-through layers → scripted target, bound top to bottom.</summary>
public sealed class LayerStack
{
    public LayerStack(int depth)
    {
        Target = new ScriptedTarget();
        IOffloadTarget below = Target;
        var layers = new List<PassThroughOffloadLayer>();
        for (int i = 0; i < depth; i++)
        {
            var layer = new PassThroughOffloadLayer(below);
            layers.Insert(0, layer);
            below = layer;
        }
        Layers = layers;
        Top = below;
        Host = new RecordingHost();
        Top.Bind(Host);
    }

    public ScriptedTarget Target { get; }

    /// <summary>Top first; the last one sits on the target.</summary>
    public IReadOnlyList<PassThroughOffloadLayer> Layers { get; }

    public PassThroughOffloadLayer Bottom => Layers[^1];

    public IOffloadTarget Top { get; }

    public RecordingHost Host { get; }
}
