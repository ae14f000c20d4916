package zoee2e.fn;

import java.util.function.Function;

/** The Pulsar function deployed by tests/e2e_pulsar.rs (packaged alone in a jar). */
public class Exclaim implements Function<String, String> {
    @Override
    public String apply(String input) {
        return input + "!";
    }
}
