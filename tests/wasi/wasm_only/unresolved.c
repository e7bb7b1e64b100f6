/* Imports a function no WASI runtime provides: linking must fail and name
 * it (env.not_a_wasi_function). */
__attribute__((import_module("env"), import_name("not_a_wasi_function")))
int not_a_wasi_function(int);

int main(void)
{
    return not_a_wasi_function(1);
}
