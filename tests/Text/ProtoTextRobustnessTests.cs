using Engine.Proto;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Text;

/// <summary>Damaged input fails with a ProtoTextException (never another exception); name suggestions.</summary>
[TestFixture]
public class ProtoTextRobustnessTests
{
    private const string Sample = """
        name: "LeNet" # a net
        layer {
          name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
          param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
          convolution_param { num_output: 20 kernel_size: [5] stride: 0x1 weight_filler { type: 'xavier' std: 1e-2 } }
          include { phase: TRAIN min_level: -1 }
        }
        layer < name: "pool1" type: "Pooling" pooling_param: { pool: MAX kernel_size: 2 } >
        """;

    [Test]
    public void RandomlyDamagedTextFailsCleanly()
    {
        var rng = new Random(1701);
        const string alphabet = "{}<>[]:;,-.#\"'\\ \n\tax0x9eE_fMAX";
        int failures = 0;
        for (int trial = 0; trial < 3000; trial++)
        {
            var chars = Sample.ToCharArray().ToList();
            int edits = 1 + rng.Next(3);
            for (int e = 0; e < edits; e++)
            {
                int at = rng.Next(chars.Count);
                switch (rng.Next(3))
                {
                    case 0: chars.RemoveAt(at); break;
                    case 1: chars.Insert(at, alphabet[rng.Next(alphabet.Length)]); break;
                    default: chars[at] = alphabet[rng.Next(alphabet.Length)]; break;
                }
            }
            var text = new string(chars.ToArray());
            try
            {
                var net = ProtoText.Parse<NetParameter>(text);
                Assert.That(ProtoText.Parse<NetParameter>(ProtoText.Print(net)), Is.EqualTo(net), text);
            }
            catch (ProtoTextException e)
            {
                failures++;
                Assert.That(e.Line, Is.InRange(1, 20), text);
                Assert.That(e.Column, Is.GreaterThanOrEqualTo(1), text);
            }
        }
        Assert.That(failures, Is.GreaterThan(100));
    }

    [Test]
    public void TheUndamagedSampleParses()
    {
        var net = ProtoText.Parse<NetParameter>(Sample);
        Assert.That(net.Layer.Select(l => l.Name), Is.EqualTo(new[] { "conv1", "pool1" }));
        Assert.That(net.Layer[0].ConvolutionParam.Stride, Is.EqualTo(new uint[] { 1 }));
        Assert.That(net.Layer[0].Include[0].MinLevel, Is.EqualTo(-1));
    }

    [TestCase("num_ouput", "num_output", 1)]
    [TestCase("nmae", "name", 1)]
    [TestCase("kernelsize", "kernel_size", 1)]
    [TestCase("abc", "abc", 0)]
    [TestCase("", "abc", 3)]
    [TestCase("kitten", "sitting", 3)]
    public void EditDistance(string a, string b, int expected)
    {
        Assert.That(Suggestions.Distance(a, b), Is.EqualTo(expected));
        Assert.That(Suggestions.Distance(b, a), Is.EqualTo(expected));
    }

    [Test]
    public void ClosestName()
    {
        string[] names = ["num_output", "bias_term", "pad", "kernel_size", "stride"];
        Assert.That(Suggestions.Closest("kernel_sise", names), Is.EqualTo("kernel_size"));
        Assert.That(Suggestions.Closest("STRIDE", names), Is.EqualTo("stride"));
        Assert.That(Suggestions.Closest("pda", names), Is.EqualTo("pad"));
        Assert.That(Suggestions.Closest("weight_filler", names), Is.Null);
    }
}
