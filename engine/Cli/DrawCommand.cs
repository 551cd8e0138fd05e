using Engine.Graph;
using Engine.Proto;
using Engine.Text;
using Engine.Tools;

namespace Engine.Cli;

/// <summary>`engine draw --model M --output net.svg|net.dot [--phase TRAIN|TEST]`: Caffe's draw_net.py, without Graphviz for SVG.</summary>
internal static class DrawCommand
{
    private static readonly Args.Flag[] Flags =
    [
        new("model", "the net prototxt (required)"),
        new("output", "net.svg (laid out here) or net.dot (Graphviz text) (required)"),
        new("phase", "TRAIN or TEST: keep the layers of that phase; all layers when not given"),
        new("level", "NetState level", Default: "0"),
        new("stage", "NetState stages (comma-separated)"),
    ];

    public static int Run(string[] argv)
    {
        var args = new Args("draw", Flags, argv);
        if (args.Help)
        {
            Console.WriteLine(Args.Usage("draw", "--model M.prototxt --output net.svg|net.dot [--phase TRAIN|TEST]",
                "Draws the net's layers (boxes) and blobs (ellipses) after the phase filter; no blobs are allocated.", Flags));
            return 0;
        }
        var model = args.Require("model");
        var output = args.Require("output");
        var param = NetFiles.ReadNet(model);
        var phaseText = args.Get("phase");
        if (phaseText != null)
        {
            var phase = phaseText.ToUpperInvariant() switch
            {
                "TRAIN" => Phase.Train,
                "TEST" => Phase.Test,
                _ => throw new EngineException($"engine draw: --phase expects TRAIN or TEST, got \"{phaseText}\""),
            };
            var state = new NetState { Phase = phase, Level = args.GetInt("level", 0) };
            var stages = args.Get("stage")?.Split(',', StringSplitOptions.RemoveEmptyEntries);
            if (stages != null) state.Stage.AddRange(stages);
            param = NetFilter.Filter(param, state);
        }
        var graph = new NetGraph(param);
        var ext = Path.GetExtension(output).ToLowerInvariant();
        var text = ext switch
        {
            ".dot" or ".gv" => graph.ToDot(),
            ".svg" => graph.ToSvg(),
            _ => throw new EngineException($"engine draw: --output must end in .svg or .dot, got \"{output}\""),
        };
        SvgWriter.WriteFileAtomic(output, text);
        Console.WriteLine($"wrote {output}: {graph.Layers.Count} layers, {graph.Blobs.Count} blobs");
        return 0;
    }
}
