import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.TreeSet;

/**
 * Reads a properties file exactly as the KCL MultiLangDaemon does (Properties.load(InputStream),
 * i.e. ISO-8859-1 plus backslash escapes) and prints values for the test runner.
 *
 *   java ReadProps FILE KEY...  for each KEY: "=" + value (UTF-8) or "!" if absent, each followed by NUL
 *   java ReadProps FILE         every key, sorted, one per line
 */
public final class ReadProps {
    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: ReadProps FILE [KEY...]");
            System.exit(2);
        }
        Properties props = new Properties();
        try (InputStream in = new FileInputStream(args[0])) {
            props.load(in);
        }
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        if (args.length == 1) {
            for (String key : new TreeSet<>(props.stringPropertyNames())) {
                out.print(key);
                out.print('\n');
            }
        } else {
            for (int i = 1; i < args.length; i++) {
                String value = props.getProperty(args[i]);
                out.print(value == null ? "!" : "=" + value);
                out.print('\0');
            }
        }
        out.flush();
    }
}
